"""Admin management of user accounts."""

from __future__ import annotations

from typing import Any

from energymon.auth.passwords import PasswordHasher
from energymon.errors import Conflict, NotFound
from energymon.events import USER_DELETED, USER_DEMOTED, USER_DISABLED, Event, EventHub
from energymon.models import Principal, Role, User
from energymon.services.access import normalize_email, require_admin, storable_email
from energymon.storage import Database
from energymon.storage import users as users_store


class UserService:
    """Create, read, update and delete users; only admins may."""

    def __init__(self, db: Database, hasher: PasswordHasher, hub: EventHub | None = None) -> None:
        self._db = db
        self._hasher = hasher
        self._hub = hub

    async def list(
        self, principal: Principal, *, search: str | None, limit: int, offset: int
    ) -> tuple[list[User], int]:
        require_admin(principal)
        search = normalize_email(search) if search else None
        async with self._db.read() as conn:
            return await users_store.page(conn, search=search, limit=limit, offset=offset)

    async def get(self, principal: Principal, user_id: int) -> User:
        require_admin(principal)
        async with self._db.read() as conn:
            user = await users_store.get(conn, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def create(
        self,
        principal: Principal,
        *,
        email: str,
        password: str,
        name: str,
        role: Role = Role.USER,
        disabled: bool = False,
    ) -> User:
        require_admin(principal)
        email = storable_email(email)
        password_hash = await self._hasher.hash(password)
        async with self._db.write() as conn:
            return await users_store.insert(
                conn,
                email=email,
                name=name.strip(),
                role=role,
                password_hash=password_hash,
                disabled=disabled,
            )

    async def update(self, principal: Principal, user_id: int, changes: dict[str, Any]) -> User:
        """Change email, name, role, disabled or password.

        An admin cannot demote or disable their own account (another admin must), so the
        last admin can never lock everyone out.
        """
        require_admin(principal)
        changes = dict(changes)
        if "email" in changes:
            changes["email"] = storable_email(changes["email"])
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        if "password" in changes:
            changes["password_hash"] = await self._hasher.hash(changes.pop("password"))
        if user_id == principal.user_id and (
            changes.get("disabled") is True or changes.get("role", Role.ADMIN) != Role.ADMIN
        ):
            raise Conflict("you cannot disable or demote your own account")
        async with self._db.write() as conn:
            before = await users_store.get(conn, user_id)
            if before is None:
                raise NotFound(f"user {user_id} not found")
            user = await users_store.update(conn, user_id, changes)
        assert user is not None
        if user.disabled and not before.disabled:
            self._announce(USER_DISABLED, user_id)
        elif before.role == Role.ADMIN and user.role != Role.ADMIN:
            self._announce(USER_DEMOTED, user_id)
        return user

    async def delete(self, principal: Principal, user_id: int) -> None:
        """Delete a user; their devices stay, as orphans."""
        require_admin(principal)
        if user_id == principal.user_id:
            raise Conflict("you cannot delete your own account")
        async with self._db.write() as conn:
            if not await users_store.delete(conn, user_id):
                raise NotFound(f"user {user_id} not found")
        self._announce(USER_DELETED, user_id)

    def _announce(self, kind: str, user_id: int) -> None:
        """The account's open sessions (sockets) must end or change: tell the transports."""
        if self._hub is not None:
            self._hub.publish(Event(kind, {"user_id": user_id}, owner_id=user_id))
