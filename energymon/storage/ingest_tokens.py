"""Per-device ingest tokens (stored as SHA-256 digests)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.storage.common import utcnow
from energymon.storage.schema import ingest_tokens


async def replace(conn: AsyncConnection, device_id: int, token_hash: str) -> None:
    """The device's one token becomes this one; any earlier token stops working."""
    await conn.execute(ingest_tokens.delete().where(ingest_tokens.c.device_id == device_id))
    await conn.execute(
        ingest_tokens.insert().values(
            device_id=device_id, token_hash=token_hash, created_at=utcnow()
        )
    )


async def revoke(conn: AsyncConnection, device_id: int) -> bool:
    result = await conn.execute(
        ingest_tokens.delete().where(ingest_tokens.c.device_id == device_id)
    )
    return result.rowcount > 0


async def device_for(conn: AsyncConnection, token_hash: str) -> int | None:
    query = sa.select(ingest_tokens.c.device_id).where(ingest_tokens.c.token_hash == token_hash)
    return (await conn.execute(query)).scalar_one_or_none()
