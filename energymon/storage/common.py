"""Small helpers shared by the storage modules."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa


def utcnow() -> datetime:
    """Now, in UTC, naive and to the second: what DATETIME columns hold on both engines."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def aware(value: datetime) -> datetime:
    """A stored naive UTC timestamp as an aware datetime."""
    return value.replace(tzinfo=UTC)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def count(conn, query: sa.Select) -> int:  # type: ignore[no-untyped-def]
    """COUNT(*) over a select."""
    sub = query.order_by(None).subquery()
    return int((await conn.execute(sa.select(sa.func.count()).select_from(sub))).scalar_one())
