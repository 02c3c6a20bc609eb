"""Admin management of user accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.auth.passwords import PasswordHasher, check_password
from energymon.errors import Conflict, NotFound
from energymon.events import Event, EventHub, UserDeleted, UserDemoted, UserDisabled
from energymon.models import Principal, Role, User
from energymon.services.access import normalize_email, require_admin, storable_email
from energymon.services.accounts import sessions_ended
from energymon.storage import Database
from energymon.storage import sessions as sessions_store
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
        check_password(password, email=email)
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

        An admin cannot demote or disable their own account (another admin must), and no
        change leaves the installation without an enabled admin. Disabling, a role change or
        a new password ends every session of the account at once.
        """
        require_admin(principal)
        changes = dict(changes)
        if "email" in changes:
            changes["email"] = storable_email(changes["email"])
        if "name" in changes:
            changes["name"] = changes["name"].strip()
        if user_id == principal.user_id and (
            changes.get("disabled") is True or changes.get("role", Role.ADMIN) != Role.ADMIN
        ):
            raise Conflict("you cannot disable or demote your own account")
        new_password = changes.pop("password", None)
        if new_password is not None:
            email = changes.get("email")
            if email is None:
                email = (await self.get(principal, user_id)).email
            check_password(new_password, email=email)
            changes["password_hash"] = await self._hasher.hash(new_password)
        async with self._db.write() as conn:
            if "role" in changes or changes.get("disabled") is True:
                await self._keep_an_admin(conn, user_id, changes)
            before = await users_store.get(conn, user_id)
            if before is None:
                raise NotFound(f"user {user_id} not found")
            user = await users_store.update(conn, user_id, changes)
            assert user is not None
            disabled = user.disabled and not before.disabled
            role_changed = user.role != before.role
            # An admin setting their own password keeps the session they are using.
            keep = principal.session_id if user_id == principal.user_id else None
            if disabled or role_changed or new_password is not None:
                await sessions_store.end_all(conn, user_id, keep=keep)
        if disabled:
            self._publish(UserDisabled(user_id))
        elif before.role == Role.ADMIN and user.role != Role.ADMIN:
            self._publish(UserDemoted(user_id))
        elif role_changed:
            self._publish(sessions_ended(user_id, "your role changed: log in again"))
        elif new_password is not None:
            reason = "your password was changed: log in again"
            self._publish(sessions_ended(user_id, reason, keep=keep))
        return user

    async def delete(self, principal: Principal, user_id: int) -> None:
        """Delete a user; their devices stay, as orphans. Their sessions go with them."""
        require_admin(principal)
        if user_id == principal.user_id:
            raise Conflict("you cannot delete your own account")
        async with self._db.write() as conn:
            await self._keep_an_admin(conn, user_id, None)
            if not await users_store.delete(conn, user_id):
                raise NotFound(f"user {user_id} not found")
        self._publish(UserDeleted(user_id))

    async def _keep_an_admin(
        self, conn: AsyncConnection, user_id: int, changes: dict[str, Any] | None
    ) -> None:
        """Conflict when the change (None: deleting) would leave no enabled admin.

        Runs first in the write transaction: the admins stay locked until it commits, so of
        two admins demoting each other at once, the second sees the first one's change.
        """
        admins = await users_store.lock_active_admins(conn)
        if user_id not in admins:
            return
        stays = changes is not None and (
            changes.get("role", Role.ADMIN) == Role.ADMIN and changes.get("disabled") is not True
        )
        if not stays and len(admins) == 1:
            raise Conflict("this is the last enabled admin: at least one must remain")

    def _publish(self, event: Event) -> None:
        """The account's open sessions (sockets) must end or change: tell the transports."""
        if self._hub is not None:
            self._hub.publish(event)
