"""Registration, login and turning an access token into a Principal."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from energymon.auth.passwords import PasswordHasher, check_password
from energymon.auth.throttle import LoginThrottle, TokenBuckets
from energymon.auth.tokens import TokenIssuer
from energymon.errors import FieldError, Invalid, Unauthorized
from energymon.events import EventHub, SessionsEnded
from energymon.models import Principal, Role, User
from energymon.services.access import normalize_email, storable_email
from energymon.storage import Database
from energymon.storage import sessions as sessions_store
from energymon.storage import users as users_store

_LOGGER = logging.getLogger(__name__)

# Live sessions one account may hold; logging in once more ends its oldest.
MAX_SESSIONS_PER_ACCOUNT = 20


@dataclass(frozen=True, slots=True)
class Session:
    """A successful login."""

    token: str
    expires_in: int
    user: User


class AccountService:
    """Self-service account actions and authentication."""

    def __init__(
        self,
        db: Database,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        *,
        registrations: TokenBuckets,
        hub: EventHub | None = None,
    ) -> None:
        self._db = db
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._registrations = registrations
        self._hub = hub

    async def register(self, *, email: str, password: str, name: str, address: str) -> User:
        """Create a normal user account (a limited number per client address)."""
        email = storable_email(email)
        check_password(password, email=email)
        self._registrations.take(address)
        password_hash = await self._hasher.hash(password)
        async with self._db.write() as conn:
            return await users_store.insert(
                conn,
                email=email,
                name=name.strip(),
                role=Role.USER,
                password_hash=password_hash,
            )

    async def login(self, *, email: str, password: str, address: str) -> Session:
        """Check the password (throttled per account and client, and per client); issue a token."""
        email = normalize_email(email)
        # Counted from now on, so parallel guesses are throttled before any is checked.
        with self._throttle.attempt(email, address) as attempt:
            async with self._db.read() as conn:
                user = await users_store.get_by_email(conn, email)
            ok = await self._hasher.verify(password, user.password_hash if user else None)
            if not ok or user is None:
                attempt.failed()
                _LOGGER.info("failed login for %r from %s", email, address)
                raise Unauthorized("wrong email or password")
            attempt.succeeded()
        if user.disabled:
            raise Unauthorized("this account is disabled")
        token = await self._start_session(user)
        return Session(token=token, expires_in=self._tokens.ttl_seconds, user=user)

    async def _start_session(self, user: User) -> str:
        """A new session row for the account, and the token that names it."""
        async with self._db.write() as conn:
            session_id = await sessions_store.create(
                conn,
                user.id,
                ttl_seconds=self._tokens.ttl_seconds,
                max_per_user=MAX_SESSIONS_PER_ACCOUNT,
            )
        return self._tokens.issue(user.id, user.role, session_id)

    async def authenticate(self, token: str) -> Principal:
        """Verify a token, its session (not ended, not expired) and the account behind it,
        which must still exist and be enabled, in one query.

        The role comes from the account, not the token; a role change ends the sessions anyway.
        """
        claims = self._tokens.verify(token)
        async with self._db.read() as conn:
            user = await sessions_store.account(conn, claims.session_id, claims.user_id)
        if user is None:
            raise Unauthorized("this session has ended: log in again")
        if user.disabled:
            raise Unauthorized("this account is disabled")
        return Principal(
            user_id=user.id,
            email=user.email,
            role=user.role,
            name=user.name,
            session_id=claims.session_id,
        )

    def csrf_token(self, token: str | None, pre_session: str | None) -> str | None:
        """The CSRF token of the session a cookie names (checked only by signature, so an
        expired cookie still gets one), else of a visitor's pre-session value; else None."""
        if token:
            try:
                return self._tokens.csrf_token("session:" + self._tokens.verify(token).session_id)
            except Unauthorized:
                pass
        return self._tokens.csrf_token("visitor:" + pre_session) if pre_session else None

    async def logout(self, principal: Principal) -> None:
        """End the caller's session, everywhere it is open (pages, sockets, chat streams)."""
        if principal.session_id is None:
            return
        async with self._db.write() as conn:
            await sessions_store.end(conn, principal.session_id)
        self._announce(principal.user_id, "you logged out", sessions=[principal.session_id])

    async def change_password(
        self, principal: Principal, *, current_password: str, new_password: str, address: str
    ) -> None:
        """Set a new password (the current one proves it is the owner) and end every other
        session of the account: a thief holding an old token loses it.

        Guesses of the current password count as failed logins of the account from that
        client, so a stolen token is no faster way to find the password."""
        async with self._db.read() as conn:
            user = await users_store.get(conn, principal.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        with self._throttle.attempt(user.email, address) as attempt:
            if not await self._hasher.verify(current_password, user.password_hash):
                attempt.failed()
                message = "is not the account's password"
                raise Invalid(
                    f"invalid body: current_password: {message}",
                    [FieldError("current_password", message)],
                )
            attempt.succeeded()
        check_password(new_password, email=user.email, field="new_password")
        password_hash = await self._hasher.hash(new_password)
        async with self._db.write() as conn:
            await users_store.update(conn, user.id, {"password_hash": password_hash})
            await sessions_store.end_all(conn, user.id, keep=principal.session_id)
        self._announce(user.id, "your password changed: log in again", keep=principal.session_id)

    def _announce(
        self,
        user_id: int,
        reason: str,
        *,
        sessions: list[str] | None = None,
        keep: str | None = None,
    ) -> None:
        if self._hub is not None:
            self._hub.publish(sessions_ended(user_id, reason, sessions=sessions, keep=keep))

    async def me(self, principal: Principal) -> User:
        async with self._db.read() as conn:
            user = await users_store.get(conn, principal.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        return user


def sessions_ended(
    user_id: int, reason: str, *, sessions: list[str] | None = None, keep: str | None = None
) -> SessionsEnded:
    """Sockets and chat streams of ended sessions (`sessions`, or all but `keep`) must close,
    in every process."""
    listed = tuple(sessions) if sessions is not None else None
    return SessionsEnded(user_id, reason, sessions=listed, keep=keep)
