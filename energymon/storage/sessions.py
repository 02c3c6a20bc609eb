"""Sessions table queries: a login is a row; ending it deletes the row."""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.models import User
from energymon.storage import users as users_store
from energymon.storage.common import utcnow
from energymon.storage.schema import sessions, users


async def create(
    conn: AsyncConnection, user_id: int, *, ttl_seconds: int, max_per_user: int
) -> str:
    """Start a session for `user_id`; returns its id.

    The account's expired sessions go, and it keeps at most `max_per_user` (its oldest end),
    so the table holds at most that many rows per account however often one logs in. Only
    the account's own rows are touched: on MariaDB a range delete over everyone's would take
    gap locks that make concurrent logins of different people wait on (or deadlock with)
    each other.
    """
    now = utcnow()
    newest = (
        sa.select(sessions.c.id)
        .where(sessions.c.user_id == user_id, sessions.c.expires_at > now)
        .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        .limit(max_per_user - 1)
    )
    kept = [row.id for row in await conn.execute(newest)]
    await conn.execute(
        sessions.delete().where(sessions.c.user_id == user_id, sessions.c.id.not_in(kept))
    )
    session_id = secrets.token_hex(16)
    await conn.execute(
        sessions.insert().values(
            id=session_id,
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
    )
    return session_id


async def account(conn: AsyncConnection, session_id: str, user_id: int) -> User | None:
    """The account of a live session (not ended, not expired), in one query; else None."""
    query = (
        sa.select(*users_store.COLUMNS)
        .join(sessions, sessions.c.user_id == users.c.id)
        .where(
            sessions.c.id == session_id,
            sessions.c.user_id == user_id,
            sessions.c.expires_at > utcnow(),
        )
    )
    row = (await conn.execute(query)).first()
    return users_store.from_row(row) if row else None


async def end(conn: AsyncConnection, session_id: str) -> bool:
    """End one session; False when it had ended already."""
    result = await conn.execute(sessions.delete().where(sessions.c.id == session_id))
    return result.rowcount > 0


async def end_all(conn: AsyncConnection, user_id: int, *, keep: str | None = None) -> int:
    """End every session of an account (but `keep`); returns how many ended."""
    query = sessions.delete().where(sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(sessions.c.id != keep)
    return (await conn.execute(query)).rowcount
