"""Readings, hourly totals and meter lookups for the ingest path; batched, one round trip each."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import Contention
from energymon.models import Device, StoredReading
from energymon.storage.devices import DEVICE_COLUMNS, WITH_PERIOD, device_from_row
from energymon.storage.schema import devices, hourly, readings

# Row-value IN lists longer than this are split, to stay well inside driver limits.
CHUNK = 500
# Devices per neighbourhood statement: a UNION ALL of one range each (SQLite allows 500).
AROUND_CHUNK = 100
# Rows per JSON-parameter statement: well inside MariaDB's default 16 MB max_allowed_packet.
JSON_CHUNK = 10_000


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def meters(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Device]:
    """The devices of these ids that exist, with their owner's assignment period."""
    found: dict[int, Device] = {}
    for chunk in _chunks(sorted(set(ids))):
        query = sa.select(*DEVICE_COLUMNS).select_from(WITH_PERIOD).where(devices.c.id.in_(chunk))
        for row in await conn.execute(query):
            found[row.id] = device_from_row(row)
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


def _around(device_id: int, first_ts: int, last_ts: int) -> sa.Select[Any]:
    """One device's stored readings from the last one before `first_ts` to the first one
    after `last_ts`; the bounds are constants, so each is an index range on both engines."""
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
    return sa.select(
        readings.c.device_id, readings.c.ts, readings.c.value_mwh, readings.c.consumption_mwh
    ).where(
        readings.c.device_id == device_id,
        readings.c.ts >= sa.func.coalesce(before, first_ts),
        readings.c.ts <= sa.func.coalesce(after, last_ts),
    )


async def around(
    conn: AsyncConnection, spans: Mapping[int, tuple[int, int]]
) -> dict[int, list[StoredReading]]:
    """For each device with its (first_ts, last_ts), the stored readings from the last one
    before `first_ts` to the first one after `last_ts`, in time order: the neighbourhood a
    cumulative meter's new readings land in. One statement for up to AROUND_CHUNK devices."""
    found: dict[int, list[StoredReading]] = {device_id: [] for device_id in spans}
    for chunk in _chunks(sorted(spans), AROUND_CHUNK):
        arms = [_around(device_id, *spans[device_id]) for device_id in chunk]
        query = arms[0] if len(arms) == 1 else sa.union_all(*arms)
        for r in await conn.execute(query):
            found[r.device_id].append(
                StoredReading(r.device_id, r.ts, int(r.value_mwh), int(r.consumption_mwh))
            )
    for rows in found.values():
        rows.sort(key=lambda s: s.ts)
    return found


# The hot statements of the ingest path take their rows as one JSON array of arrays, bound
# as a single parameter and unpacked by the database (JSON_TABLE on MariaDB/MySQL, json_each
# on SQLite): the values stay bound, and the per-value escaping a driver does in Python for
# a multi-row VALUES list or an executemany, the main cost of a batch, is left out.


_STATEMENTS = {
    "mysql": {
        "insert_readings": """
            INSERT INTO readings (device_id, ts, value_mwh, consumption_mwh)
            SELECT j.c0, j.c1, j.c2, j.c3 FROM JSON_TABLE(%s, '$[*]' COLUMNS (
                c0 BIGINT PATH '$[0]', c1 BIGINT PATH '$[1]',
                c2 BIGINT PATH '$[2]', c3 BIGINT PATH '$[3]')) AS j""",
        "add_to_hours": """
            INSERT INTO hourly (device_id, hour_ts, total_mwh, readings)
            SELECT j.c0, j.c1, j.c2, j.c3 FROM JSON_TABLE(%s, '$[*]' COLUMNS (
                c0 BIGINT PATH '$[0]', c1 BIGINT PATH '$[1]',
                c2 BIGINT PATH '$[2]', c3 BIGINT PATH '$[3]')) AS j
            ON DUPLICATE KEY UPDATE total_mwh = hourly.total_mwh + VALUES(total_mwh),
                readings = hourly.readings + VALUES(readings)""",
        "hour_totals": """
            SELECT STRAIGHT_JOIN h.device_id, h.hour_ts, h.total_mwh
            FROM JSON_TABLE(%s, '$[*]' COLUMNS (c0 BIGINT PATH '$[0]', c1 BIGINT PATH '$[1]')) AS j
            JOIN hourly h ON h.device_id = j.c0 AND h.hour_ts = j.c1""",
        "hour_totals_over_limit": """
            SELECT STRAIGHT_JOIN h.device_id, h.hour_ts, h.total_mwh
            FROM JSON_TABLE(%s, '$[*]' COLUMNS (c0 BIGINT PATH '$[0]', c1 BIGINT PATH '$[1]')) AS j
            JOIN hourly h ON h.device_id = j.c0 AND h.hour_ts = j.c1
            JOIN devices d ON d.id = h.device_id
            WHERE h.total_mwh > d.max_hourly_wh * 1000""",
    },
    "sqlite": {
        "insert_readings": """
            INSERT INTO readings (device_id, ts, value_mwh, consumption_mwh)
            SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),
                json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]')
            FROM json_each(?) AS j""",
        # WHERE true: SQLite's parser needs it between a SELECT and an upsert clause.
        "add_to_hours": """
            INSERT INTO hourly (device_id, hour_ts, total_mwh, readings)
            SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),
                json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]')
            FROM json_each(?) AS j WHERE true
            ON CONFLICT (device_id, hour_ts) DO UPDATE SET
                total_mwh = total_mwh + excluded.total_mwh,
                readings = readings + excluded.readings""",
        "hour_totals": """
            SELECT h.device_id, h.hour_ts, h.total_mwh FROM json_each(?) AS j
            JOIN hourly h ON h.device_id = json_extract(j.value, '$[0]')
                AND h.hour_ts = json_extract(j.value, '$[1]')""",
        "hour_totals_over_limit": """
            SELECT h.device_id, h.hour_ts, h.total_mwh FROM json_each(?) AS j
            JOIN hourly h ON h.device_id = json_extract(j.value, '$[0]')
                AND h.hour_ts = json_extract(j.value, '$[1]')
            JOIN devices d ON d.id = h.device_id
            WHERE h.total_mwh > d.max_hourly_wh * 1000""",
    },
}


def _json_rows(rows: Sequence[tuple[int, ...]]) -> str:
    return json.dumps(rows, separators=(",", ":"))


async def _run(conn: AsyncConnection, name: str, rows: Sequence[tuple[int, ...]]) -> Any:
    return await conn.exec_driver_sql(_STATEMENTS[conn.dialect.name][name], (_json_rows(rows),))


async def _run_chunked(conn: AsyncConnection, name: str, rows: Sequence[tuple[int, ...]]) -> None:
    for chunk in _chunks(rows, JSON_CHUNK):
        await _run(conn, name, chunk)


async def insert(conn: AsyncConnection, rows: Sequence[tuple[int, int, int, int]]) -> None:
    """Insert new readings: (device_id, ts, value_mwh, consumption_mwh) tuples."""
    try:
        await _run_chunked(conn, "insert_readings", rows)
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


async def add_to_hours(
    conn: AsyncConnection, deltas: dict[tuple[int, int], tuple[int, int]]
) -> None:
    """Add (mWh, reading count) to each device-hour.

    The upsert is atomic per row and its row lock is held until commit, so totals read back
    in the same transaction are this transaction's own: the change from before to after is
    exact.
    """
    keys = sorted(deltas)  # one lock order for every writer, so fewer deadlocks
    await _run_chunked(conn, "add_to_hours", [(d, h, *deltas[(d, h)]) for d, h in keys])


async def _hour_totals(
    conn: AsyncConnection, keys: Iterable[tuple[int, int]], name: str
) -> dict[tuple[int, int], int]:
    totals: dict[tuple[int, int], int] = {}
    for chunk in _chunks(sorted(keys), JSON_CHUNK):
        for device_id, hour_ts, total in await _run(conn, name, chunk):
            totals[(device_id, hour_ts)] = int(total)
    return totals


async def hour_totals(
    conn: AsyncConnection, keys: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The stored total (mWh) of each device-hour."""
    return await _hour_totals(conn, keys, "hour_totals")


async def hour_totals_over_limit(
    conn: AsyncConnection, keys: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The totals of those device-hours that are above their device's hourly maximum: the
    only ones an alert can be about, usually none, so the usual batch reads back no rows."""
    return await _hour_totals(conn, keys, "hour_totals_over_limit")


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
    conn: AsyncConnection, device_id: int, start_ts: int, end_ts: int, visible_from: int = 0
) -> dict[int, tuple[int, int]]:
    """{hour_ts: (total_mwh, readings)} for hours in [start_ts, end_ts), of the readings
    from `visible_from` on: the hour it falls inside holds the exact sum of its readings
    from then on, and earlier hours are left out."""
    straddled = visible_from - visible_from % 3600
    first_whole = straddled + 3600 if visible_from % 3600 else visible_from
    query = sa.select(hourly.c.hour_ts, hourly.c.total_mwh, hourly.c.readings).where(
        hourly.c.device_id == device_id,
        hourly.c.hour_ts >= max(start_ts, first_whole),
        hourly.c.hour_ts < end_ts,
    )
    found = {r.hour_ts: (int(r.total_mwh), int(r.readings)) for r in await conn.execute(query)}
    if straddled != first_whole and start_ts <= straddled < end_ts:
        part = (
            await conn.execute(
                sa.select(sa.func.sum(readings.c.consumption_mwh), sa.func.count()).where(
                    readings.c.device_id == device_id,
                    readings.c.ts >= visible_from,
                    readings.c.ts < first_whole,
                )
            )
        ).one()
        if part[1]:
            found[straddled] = (int(part[0]), int(part[1]))
    return found


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
    return [StoredReading(device_id, r.ts, int(r.value_mwh), int(r.consumption_mwh)) for r in rows]
