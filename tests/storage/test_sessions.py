"""The sessions table stays bounded: expired sessions and an account's oldest go at login."""

from __future__ import annotations

import sqlalchemy as sa

from energymon.storage import Database
from energymon.storage import sessions as sessions_store
from energymon.storage.schema import sessions


async def _ids(db: Database, user_id: int) -> set[str]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(sessions.c.id).where(sessions.c.user_id == user_id))
        return {row.id for row in rows}


async def test_an_account_keeps_at_most_its_limit_of_sessions(db: Database, make_actor):
    alice = await make_actor()
    before = await _ids(db, alice.id)  # the fixture's own session
    made = []
    for _ in range(7):
        async with db.write() as conn:
            made.append(await sessions_store.create(conn, alice.id, ttl_seconds=60, max_per_user=5))
    kept = await _ids(db, alice.id)
    # Times are kept to the second, so which of one second's sessions are "oldest" is open;
    # the newest always stays, and there are never more than five.
    assert len(kept) == 5 and made[-1] in kept
    assert kept <= set(made) | before


async def test_expired_sessions_go_at_the_next_login(db: Database, make_actor):
    alice, bob = await make_actor(), await make_actor()
    async with db.write() as conn:
        # Every session so far expires now (expires_at = created_at, not after now).
        await conn.execute(sessions.update().values(expires_at=sessions.c.created_at))
        fresh = await sessions_store.create(conn, alice.id, ttl_seconds=60, max_per_user=5)
    assert await _ids(db, alice.id) == {fresh}
    async with db.read() as conn:
        # Someone else's expired session is theirs to clear (the rows stay bounded per account).
        assert (
            await sessions_store.account(conn, next(iter(await _ids(db, bob.id))), bob.id) is None
        )
