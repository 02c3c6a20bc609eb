"""Readings, hourly totals and meter lookups for the ingest path; batched, one round trip each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import Contention
from energymon.storage.schema import devices, hourly, readings

# Row-value IN lists longer than this are split, to stay well inside driver limits.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class Meter:
    """What the ingest path needs to know about a device, read fresh for every batch."""

    id: int
    kind: str
    max_hourly_wh: int
    owner_id: int | None
    description: str = ""


@dataclass(frozen=True, slots=True)
class StoredReading:
    ts: int
    value_mwh: int
    consumption_mwh: int


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def meters(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Meter]:
    found: dict[int, Meter] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = sa.select(
            devices.c.id,
            devices.c.meter_kind,
            devices.c.max_hourly_wh,
            devices.c.owner_id,
            devices.c.description,
        ).where(devices.c.id.in_(chunk))
        for row in await conn.execute(query):
            found[row.id] = Meter(
                row.id, row.meter_kind, int(row.max_hourly_wh), row.owner_id, row.description
            )
    return found


async def existing(
    conn: AsyncConnection, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The stored value of each (device_id, ts) that is already there."""
    found: dict[tuple[int, int], int] = {}
    for chunk in _chunks(keys):
        query = sa.select(readings.c.device_id, readings.c.ts, readings.c.value_mwh).where(
            sa.tuple_(readings.c.device_id, readings.c.ts).in_(chunk)
        )
        for row in await conn.execute(query):
            found[(row.device_id, row.ts)] = int(row.value_mwh)
    return found


async def around(
    conn: AsyncConnection, device_id: int, first_ts: int, last_ts: int
) -> list[StoredReading]:
    """Stored readings of one device from the last one before `first_ts` to the first one
    after `last_ts`: the neighbourhood a cumulative meter's new readings land in."""
    before = (
        sa.select(sa.func.max(readings.c.ts))
        .where(readings.c.device_id == device_id, readings.c.ts < first_ts)
        .scalar_subquery()
    )
    after = (
        sa.select(sa.func.min(readings.c.ts))
        .where(readings.c.device_id == device_id, readings.c.ts > last_ts)
        .scalar_subquery()
    )
    query = (
        sa.select(readings.c.ts, readings.c.value_mwh, readings.c.consumption_mwh)
        .where(
            readings.c.device_id == device_id,
            readings.c.ts >= sa.func.coalesce(before, first_ts),
            readings.c.ts <= sa.func.coalesce(after, last_ts),
        )
        .order_by(readings.c.ts)
    )
    rows = await conn.execute(query)
    return [StoredReading(r.ts, int(r.value_mwh), int(r.consumption_mwh)) for r in rows]


async def insert(conn: AsyncConnection, rows: list[dict[str, int]]) -> None:
    """Insert new readings (device_id, ts, value_mwh, consumption_mwh)."""
    if rows:
        try:
            await conn.execute(readings.insert(), rows)
        except IntegrityError:
            # Another writer stored one of these keys (or deleted the device) meanwhile.
            raise Contention("a concurrent write touched the same readings") from None


async def set_consumption(conn: AsyncConnection, updates: list[dict[str, int]]) -> None:
    """Rewrite the consumption of stored readings (a late cumulative reading split them)."""
    if updates:
        stmt = (
            readings.update()
            .where(readings.c.device_id == sa.bindparam("d"), readings.c.ts == sa.bindparam("t"))
            .values(consumption_mwh=sa.bindparam("c"))
        )
        await conn.execute(stmt, updates)


def _upsert(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "mysql":
        stmt = mysql.insert(hourly)
        return stmt.on_duplicate_key_update(
            total_mwh=hourly.c.total_mwh + stmt.inserted.total_mwh,
            readings=hourly.c.readings + stmt.inserted.readings,
        )
    stmt = sqlite.insert(hourly)
    return stmt.on_conflict_do_update(
        index_elements=[hourly.c.device_id, hourly.c.hour_ts],
        set_={
            "total_mwh": hourly.c.total_mwh + stmt.excluded.total_mwh,
            "readings": hourly.c.readings + stmt.excluded.readings,
        },
    )


async def add_to_hours(
    conn: AsyncConnection, deltas: dict[tuple[int, int], tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """Add (mWh, reading count) to each device-hour, then return the new totals.

    The upsert is atomic per row and its row lock is held until commit, so the totals read
    back are this transaction's own: the change from before to after is exact.
    """
    if not deltas:
        return {}
    keys = sorted(deltas)  # one lock order for every writer, so fewer deadlocks
    rows = [
        {
            "device_id": d,
            "hour_ts": h,
            "total_mwh": deltas[(d, h)][0],
            "readings": deltas[(d, h)][1],
        }
        for d, h in keys
    ]
    await conn.execute(_upsert(conn), rows)
    totals: dict[tuple[int, int], int] = {}
    for chunk in _chunks(keys):
        query = sa.select(hourly.c.device_id, hourly.c.hour_ts, hourly.c.total_mwh).where(
            sa.tuple_(hourly.c.device_id, hourly.c.hour_ts).in_(chunk)
        )
        for row in await conn.execute(query):
            totals[(row.device_id, row.hour_ts)] = int(row.total_mwh)
    return totals


async def hour_series(conn: AsyncConnection, device_id: int, hour_ts: int) -> list[tuple[int, int]]:
    """(ts, value_mwh) of one device's readings in an hour, after the last one before it."""
    before = (
        sa.select(sa.func.max(readings.c.ts))
        .where(readings.c.device_id == device_id, readings.c.ts < hour_ts)
        .scalar_subquery()
    )
    query = (
        sa.select(readings.c.ts, readings.c.value_mwh)
        .where(
            readings.c.device_id == device_id,
            readings.c.ts >= sa.func.coalesce(before, hour_ts),
            readings.c.ts < hour_ts + 3600,
        )
        .order_by(readings.c.ts)
    )
    return [(r.ts, int(r.value_mwh)) for r in await conn.execute(query)]


async def hours(
    conn: AsyncConnection, device_id: int, start_ts: int, end_ts: int
) -> dict[int, tuple[int, int]]:
    """{hour_ts: (total_mwh, readings)} for hours in [start_ts, end_ts)."""
    query = sa.select(hourly.c.hour_ts, hourly.c.total_mwh, hourly.c.readings).where(
        hourly.c.device_id == device_id, hourly.c.hour_ts >= start_ts, hourly.c.hour_ts < end_ts
    )
    return {r.hour_ts: (int(r.total_mwh), int(r.readings)) for r in await conn.execute(query)}


async def page(
    conn: AsyncConnection,
    device_id: int,
    start_ts: int,
    end_ts: int,
    *,
    after_ts: int | None,
    limit: int,
) -> list[StoredReading]:
    """Raw readings in [start_ts, end_ts), in time order, after a cursor."""
    query = (
        sa.select(readings.c.ts, readings.c.value_mwh, readings.c.consumption_mwh)
        .where(
            readings.c.device_id == device_id,
            readings.c.ts >= start_ts,
            readings.c.ts < end_ts,
        )
        .order_by(readings.c.ts)
        .limit(limit)
    )
    if after_ts is not None:
        query = query.where(readings.c.ts > after_ts)
    rows = await conn.execute(query)
    return [StoredReading(r.ts, int(r.value_mwh), int(r.consumption_mwh)) for r in rows]
