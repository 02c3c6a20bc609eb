"""Small helpers shared by the storage modules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# A row, select or result of any columns (SQLAlchemy types them with a parameter a column).
AnyRow: TypeAlias = sa.Row[*tuple[Any, ...]]
AnySelect: TypeAlias = sa.Select[*tuple[Any, ...]]
AnyResult: TypeAlias = sa.CursorResult[*tuple[Any, ...]]


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


async def count(conn: AsyncConnection, query: AnySelect) -> int:
    """COUNT(*) over a select."""
    sub = query.order_by(None).subquery()
    return int((await conn.execute(sa.select(sa.func.count()).select_from(sub))).scalar_one())


def inserted_id(result: AnyResult) -> int:
    """The id the database gave the row just inserted."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the insert returned no primary key")
    return int(key[0])
