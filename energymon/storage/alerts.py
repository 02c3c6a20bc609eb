"""Alerts table queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.models import NOTHING_VISIBLE, Alert, owner_visible_from
from energymon.storage.common import AnyRow, aware, utcnow
from energymon.storage.devices import PERIOD_COLUMNS, WITH_PERIOD, period, with_period
from energymon.storage.schema import alerts, devices

_COLUMNS = (
    alerts.c.id,
    alerts.c.device_id,
    alerts.c.hour_ts,
    alerts.c.kind,
    alerts.c.value,
    alerts.c.limit_wh,
    alerts.c.late,
    alerts.c.created_at,
    alerts.c.acknowledged_at,
    devices.c.owner_id,
    *PERIOD_COLUMNS,
)
# Alerts with their device and its current owner's assignment period.
_FROM = with_period(alerts.join(devices, devices.c.id == alerts.c.device_id))


def _row(row: AnyRow) -> Alert:
    owner = row.owner_id
    if owner is not None and row.hour_ts < owner_visible_from(*period(row)):
        owner = None
    return _alert(row, owner)


def _alert(row: AnyRow, owner: int | None) -> Alert:
    return Alert(
        id=row.id,
        device_id=row.device_id,
        hour_ts=row.hour_ts,
        kind=row.kind,
        value=int(row.value),
        limit_wh=int(row.limit_wh),
        late=bool(row.late),
        created_at=aware(row.created_at),
        acknowledged_at=aware(row.acknowledged_at) if row.acknowledged_at else None,
        owner_id=owner,
    )


def _insert_ignore(conn: AsyncConnection) -> Any:
    if conn.dialect.name == "mysql":
        return mysql.insert(alerts).prefix_with("IGNORE")
    return sqlite.insert(alerts).on_conflict_do_nothing()


async def raise_once(
    conn: AsyncConnection,
    *,
    device_id: int,
    hour_ts: int,
    kind: str,
    value: int,
    limit_wh: int,
    late: bool,
) -> Alert | None:
    """Store the alert unless that device-hour already has one of this kind."""
    result = await conn.execute(
        _insert_ignore(conn).values(
            device_id=device_id,
            hour_ts=hour_ts,
            kind=kind,
            value=value,
            limit_wh=limit_wh,
            late=late,
            created_at=utcnow(),
        )
    )
    if result.rowcount != 1:
        return None
    query = (
        sa.select(*_COLUMNS)
        .select_from(_FROM)
        .where(alerts.c.device_id == device_id, alerts.c.hour_ts == hour_ts, alerts.c.kind == kind)
    )
    return _row((await conn.execute(query)).one())


async def withdraw(
    conn: AsyncConnection, *, device_id: int, hour_ts: int, kind: str
) -> Alert | None:
    """Remove a device-hour's alert of this kind; returns what was removed."""
    query = (
        sa.select(*_COLUMNS)
        .select_from(_FROM)
        .where(alerts.c.device_id == device_id, alerts.c.hour_ts == hour_ts, alerts.c.kind == kind)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    await conn.execute(alerts.delete().where(alerts.c.id == row.id))
    return _row(row)


# Where a page of the list ends: the (hour_ts, id) of its last alert.
Cursor = tuple[int, int]
# Devices whose newest alerts one statement merges (SQLite allows 500 terms in a compound).
MERGE_CHUNK = 100


# On MariaDB each way of filtering the list is told its index. Left to itself, for one
# device's alerts its ORDER BY ... LIMIT estimate prefers walking the overall (hour_ts, id)
# order and skipping every other device's rows (10,133 rows read for a page of 51 among 200
# devices; all of them for a device with few alerts), and right after a bulk load it may sort
# the whole table. Each filter has exactly one index that yields its rows in order.
_BY_HOUR = "ix_alerts_hour_ts_id"
_BY_DEVICE = "ix_alerts_device_id_hour_ts_id"
_UNACKNOWLEDGED = "ix_alerts_acknowledged_at_hour_ts_id"


def _indexed(query: sa.Select[Any], *, device: bool, unacknowledged: bool) -> sa.Select[Any]:
    index = _BY_DEVICE if device else _UNACKNOWLEDGED if unacknowledged else _BY_HOUR
    return query.with_hint(alerts, f"FORCE INDEX ({index})", "mysql")


def _after(query: sa.Select[Any], table: sa.FromClause, after: Cursor | None) -> sa.Select[Any]:
    """Newest hour first, then newest id, from just past `after`.

    The bound is spelled `hour_ts <= h AND (hour_ts < h OR id < i)` rather than as a row
    comparison, so both engines see a range on the index's first column.
    """
    query = query.order_by(table.c.hour_ts.desc(), table.c.id.desc())
    if after is None:
        return query
    hour_ts, alert_id = after
    return query.where(
        table.c.hour_ts <= hour_ts, sa.or_(table.c.hour_ts < hour_ts, table.c.id < alert_id)
    )


async def page(
    conn: AsyncConnection,
    *,
    owner_id: int | None,
    device_id: int | None,
    unacknowledged: bool,
    after: Cursor | None,
    limit: int,
    offset: int = 0,
) -> tuple[list[Alert], bool]:
    """Newest first, after a cursor; `owner_id` limits to the devices a user owns now, and
    to the hours that start within their assignment period (unless it includes the history).
    Returns the page and whether more follow."""
    # One more than the page, to know whether more follow.
    if owner_id is None:
        rows = await _all_devices(conn, device_id, unacknowledged, after, limit + 1, offset)
    else:
        rows = await _owned(conn, owner_id, device_id, unacknowledged, after, limit + 1, offset)
    return rows[:limit], len(rows) > limit


async def _all_devices(
    conn: AsyncConnection,
    device_id: int | None,
    unacknowledged: bool,
    after: Cursor | None,
    n: int,
    offset: int,
) -> list[Alert]:
    """`n` alerts of every device after skipping `offset`: one index range read (hour_ts, id
    descending; by device or acknowledged_at first when filtered), then the devices of just
    those rows."""
    query = sa.select(alerts)
    if device_id is not None:
        query = query.where(alerts.c.device_id == device_id)
    if unacknowledged:
        query = query.where(alerts.c.acknowledged_at.is_(None))
    query = _indexed(query, device=device_id is not None, unacknowledged=unacknowledged)
    newest = _after(query, alerts, after).limit(n).offset(offset).subquery("newest")
    joined = with_period(newest.join(devices, devices.c.id == newest.c.device_id))
    columns = [*newest.c, devices.c.owner_id, *PERIOD_COLUMNS]
    query = sa.select(*columns).select_from(joined)
    rows = await conn.execute(query.order_by(newest.c.hour_ts.desc(), newest.c.id.desc()))
    return [_row(r) for r in rows]


async def _owned(
    conn: AsyncConnection,
    owner_id: int,
    device_id: int | None,
    unacknowledged: bool,
    after: Cursor | None,
    n: int,
    offset: int,
) -> list[Alert]:
    """`n` alerts a user sees after skipping `offset`: the newest `offset + n` of each device
    they own, each an index range read from where their period lets them see, merged. It
    reads at most that many rows a device, however many alerts are stored."""
    query = (
        sa.select(devices.c.id, devices.c.owner_id, *PERIOD_COLUMNS)
        .select_from(WITH_PERIOD)
        .where(devices.c.owner_id == owner_id)
    )
    if device_id is not None:
        query = query.where(devices.c.id == device_id)
    visible: dict[int, int] = {}
    for row in await conn.execute(query):
        visible_from = owner_visible_from(*period(row))
        if visible_from < NOTHING_VISIBLE:
            visible[row.id] = visible_from
    found: list[Alert] = []
    ids = sorted(visible)
    # One statement skips in SQL; the merge of several skips here.
    skip, each = (offset, n) if len(ids) <= MERGE_CHUNK else (0, offset + n)
    for start in range(0, len(ids), MERGE_CHUNK):
        arms = []
        for device in ids[start : start + MERGE_CHUNK]:
            arm = sa.select(alerts).where(
                alerts.c.device_id == device, alerts.c.hour_ts >= visible[device]
            )
            if unacknowledged:
                arm = arm.where(alerts.c.acknowledged_at.is_(None))
            arm = _indexed(arm, device=True, unacknowledged=unacknowledged)
            arms.append(sa.select(_after(arm, alerts, after).limit(offset + n).subquery()))
        merged = sa.union_all(*arms).subquery("merged")
        query = _after(sa.select(merged), merged, None).limit(each).offset(skip)
        found.extend(_alert(r, owner_id) for r in await conn.execute(query))
    found.sort(key=lambda a: (a.hour_ts, a.id), reverse=True)
    return found[offset - skip :][:n]


async def get(conn: AsyncConnection, alert_id: int) -> Alert | None:
    query = sa.select(*_COLUMNS).select_from(_FROM).where(alerts.c.id == alert_id)
    row = (await conn.execute(query)).first()
    return _row(row) if row else None


async def acknowledge(conn: AsyncConnection, alert_id: int) -> None:
    await conn.execute(
        alerts.update()
        .where(alerts.c.id == alert_id, alerts.c.acknowledged_at.is_(None))
        .values(acknowledged_at=utcnow())
    )
