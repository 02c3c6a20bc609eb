"""Registration, login and turning an access token into a Principal."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from energymon.auth.passwords import PasswordHasher
from energymon.auth.throttle import LoginThrottle, TokenBuckets
from energymon.auth.tokens import TokenIssuer
from energymon.errors import Unauthorized
from energymon.models import Principal, Role, User
from energymon.services.access import normalize_email, storable_email
from energymon.storage import Database
from energymon.storage import users as users_store

_LOGGER = logging.getLogger(__name__)


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
    ) -> None:
        self._db = db
        self._hasher = hasher
        self._tokens = tokens
        self._throttle = throttle
        self._registrations = registrations

    async def register(self, *, email: str, password: str, name: str, address: str) -> User:
        """Create a normal user account (a limited number per client address)."""
        email = storable_email(email)
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
        token = self._tokens.issue(user.id, user.role)
        return Session(token=token, expires_in=self._tokens.ttl_seconds, user=user)

    async def authenticate(self, token: str) -> Principal:
        """Verify a token and the account behind it, which must still exist and be enabled.

        The role comes from the account, not the token, so a demotion takes effect at once.
        """
        claims = self._tokens.verify(token)
        async with self._db.read() as conn:
            user = await users_store.get(conn, claims.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        if user.disabled:
            raise Unauthorized("this account is disabled")
        return Principal(user_id=user.id, email=user.email, role=user.role, name=user.name)

    async def me(self, principal: Principal) -> User:
        async with self._db.read() as conn:
            user = await users_store.get(conn, principal.user_id)
        if user is None:
            raise Unauthorized("this account no longer exists")
        return user
