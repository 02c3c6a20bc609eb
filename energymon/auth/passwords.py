"""bcrypt password hashing, off the event loop.

bcrypt only reads the first 72 bytes of its input. Every password is first reduced to a
fixed-length key (base64 of its SHA-256), so long passphrases keep all their strength and
never hit bcrypt's limit.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from concurrent.futures import Executor
from functools import cache

import bcrypt

from energymon.errors import FieldError, Invalid


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


@cache
def _dummy_hash(rounds: int) -> str:
    """A hash of a password nobody has, to check against when an email is unknown. One per
    cost and process: computing it costs as much as a login."""
    return hash_password_sync("energymon-unknown-account", rounds)


def verify_password_sync(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode("ascii"))
    except ValueError:
        return False


class PasswordHasher:
    """Hashes and checks passwords in an executor so the loop never waits on bcrypt."""

    def __init__(self, rounds: int, executor: Executor | None = None) -> None:
        self.rounds = rounds
        self._executor = executor
        # Checked against when an email is unknown, so a miss costs as long as a hit.
        self._dummy = _dummy_hash(rounds)

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, hash_password_sync, password, self.rounds)

    async def verify(self, password: str, hashed: str | None) -> bool:
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(
            self._executor, verify_password_sync, password, hashed or self._dummy
        )
        return ok and hashed is not None


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most used passwords, from zxcvbn's bundled frequency list (no network)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, *, email: str, field: str = "password") -> None:
    """Refuse a password found in the common-password list or equal to the account's email.

    Length is checked at the edge (8 to 1,024 characters); this is the part that needs the
    list and the account. Compared without case and surrounding spaces, as people vary both.
    """
    folded = password.strip().casefold()
    if folded == email.strip().casefold() or folded == email.split("@", 1)[0].casefold():
        message = "must not be the account's email"
    elif folded in _common_passwords():
        message = "is one of the most common passwords: choose another"
    else:
        return
    raise Invalid(f"invalid body: {field}: {message}", [FieldError(field, message)])
