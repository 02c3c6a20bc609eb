"""Alerts table queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.models import Alert, owner_visible_from
from energymon.storage.common import AnyRow, aware, count, utcnow
from energymon.storage.devices import PERIOD_COLUMNS, period, with_period
from energymon.storage.schema import alerts, device_assignments, devices

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


async def page(
    conn: AsyncConnection,
    *,
    owner_id: int | None,
    device_id: int | None,
    unacknowledged: bool,
    limit: int,
    offset: int,
) -> tuple[list[Alert], int]:
    """Newest first; `owner_id` limits to the devices a user owns now, and to the hours
    that start within their assignment period (unless it includes the history)."""
    query = (
        sa.select(*_COLUMNS)
        .select_from(_FROM)
        .order_by(alerts.c.hour_ts.desc(), alerts.c.id.desc())
    )
    if owner_id is not None:
        query = query.where(
            devices.c.owner_id == owner_id,
            device_assignments.c.user_id == owner_id,
            sa.or_(
                device_assignments.c.include_history == sa.true(),
                alerts.c.hour_ts >= device_assignments.c.started_ts,
            ),
        )
    if device_id is not None:
        query = query.where(alerts.c.device_id == device_id)
    if unacknowledged:
        query = query.where(alerts.c.acknowledged_at.is_(None))
    total = await count(conn, query)
    rows = await conn.execute(query.limit(limit).offset(offset))
    return [_row(r) for r in rows], total


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
