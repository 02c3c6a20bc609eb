"""Password hashing: bcrypt of a SHA-256 prehash, off the loop, at the cost it is given."""

from __future__ import annotations

import pytest

from energymon.auth.passwords import PasswordHasher
from tests.conftest import TEST_BCRYPT_ROUNDS

hasher = PasswordHasher(TEST_BCRYPT_ROUNDS)


async def test_a_hash_checks_its_password_only() -> None:
    hashed = await hasher.hash("correct horse battery staple")
    assert hashed.startswith(f"$2b${TEST_BCRYPT_ROUNDS:02d}$")
    assert await hasher.verify("correct horse battery staple", hashed)
    assert not await hasher.verify("correct horse battery stapler", hashed)
    assert not await hasher.verify("", hashed)


async def test_the_same_password_hashes_differently_each_time() -> None:
    first, second = await hasher.hash("same"), await hasher.hash("same")
    assert first != second  # salted
    assert await hasher.verify("same", first) and await hasher.verify("same", second)


@pytest.mark.parametrize(
    ("password", "other"),
    [
        ("a" * 72 + "1", "a" * 72 + "2"),  # differ past bcrypt's 72 bytes
        ("ü" * 40 + "x", "ü" * 40 + "y"),  # 80+ bytes of UTF-8
    ],
    ids=["ascii", "multibyte"],
)
async def test_every_character_of_a_long_password_counts(password: str, other: str) -> None:
    hashed = await hasher.hash(password)
    assert await hasher.verify(password, hashed)
    assert not await hasher.verify(other, hashed)


@pytest.mark.parametrize("hashed", [None, "", "not a hash", "$2b$04$short"], ids=repr)
async def test_no_hash_or_a_broken_one_never_matches(hashed: str | None) -> None:
    assert not await hasher.verify("anything", hashed)


async def test_a_hash_of_another_cost_still_checks() -> None:
    # Raising the configured cost keeps every stored hash working: the cost is in the hash.
    old = await PasswordHasher(TEST_BCRYPT_ROUNDS + 1).hash("kept")
    assert await hasher.verify("kept", old)
