"""Devices table queries."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import NotFound
from energymon.models import Device, MeterKind
from energymon.storage.common import AnyRow, aware, count, inserted_id, utcnow
from energymon.storage.schema import device_assignments, device_epoch, devices


def with_period(joined: sa.FromClause) -> sa.Join:
    """`joined` (devices, or a join holding it) with the device's open assignment period:
    its columns are NULL for an orphan.

    The join names only the device: a condition on user_id would let a planner look the
    period up through the user_id index (the user FK needs it), which for a user with many
    devices makes every lookup a scan of theirs. `period` checks the user instead.
    """
    return joined.outerjoin(
        device_assignments,
        sa.and_(
            device_assignments.c.device_id == devices.c.id,
            device_assignments.c.ended_ts.is_(None),
        ),
    )


WITH_PERIOD = with_period(devices)
PERIOD_COLUMNS = (
    device_assignments.c.user_id.label("period_user_id"),
    device_assignments.c.started_ts,
    device_assignments.c.include_history,
)


def period(row: AnyRow) -> tuple[int | None, bool]:
    """(started_ts, include_history) of the owner's open period in a row selected with
    PERIOD_COLUMNS and devices.owner_id; (None, False) when the owner has none."""
    if row.owner_id is None or row.period_user_id != row.owner_id:
        return None, False
    return int(row.started_ts), bool(row.include_history)


DEVICE_COLUMNS = (
    devices.c.id,
    devices.c.description,
    devices.c.address,
    devices.c.max_hourly_wh,
    devices.c.owner_id,
    devices.c.created_at,
    devices.c.meter_kind,
    *PERIOD_COLUMNS,
)


def device_from_row(row: AnyRow) -> Device:
    started, include_history = period(row)
    return Device(
        id=row.id,
        description=row.description,
        address=row.address,
        max_hourly_wh=int(row.max_hourly_wh),
        owner_id=row.owner_id,
        created_at=aware(row.created_at),
        meter_kind=row.meter_kind,
        owner_since=_since(started),
        include_history=include_history,
    )


def _since(started_ts: int | None) -> datetime | None:
    return None if started_ts is None else datetime.fromtimestamp(started_ts, UTC)


def assignment_moment() -> int:
    """Now, as the first whole second of a new owner's period: a reading stamped within the
    current second happened before the change."""
    return math.ceil(time.time())


def _missing_owner(owner_id: int | None) -> NotFound:
    return NotFound(f"user {owner_id} not found")


async def insert(
    conn: AsyncConnection,
    *,
    description: str,
    address: str,
    max_hourly_wh: int,
    owner_id: int | None,
    meter_kind: MeterKind = "interval",
) -> Device:
    now = utcnow()
    values = {
        "description": description,
        "address": address,
        "max_hourly_wh": max_hourly_wh,
        "meter_kind": meter_kind,
        "owner_id": owner_id,
        "created_at": now,
        "updated_at": now,
    }
    try:
        result = await conn.execute(devices.insert().values(**values))
    except IntegrityError:
        raise _missing_owner(owner_id) from None
    device_id = inserted_id(result)
    started = None
    if owner_id is not None:
        # A new device has no one else's past: its first owner sees whatever it sends.
        started = await start_period(conn, device_id, owner_id, include_history=True)
    return Device(
        id=device_id,
        description=description,
        address=address,
        max_hourly_wh=max_hourly_wh,
        owner_id=owner_id,
        created_at=aware(now),
        meter_kind=meter_kind,
        owner_since=_since(started),
        include_history=owner_id is not None,
    )


async def get(conn: AsyncConnection, device_id: int) -> Device | None:
    query = sa.select(*DEVICE_COLUMNS).select_from(WITH_PERIOD).where(devices.c.id == device_id)
    row = (await conn.execute(query)).first()
    return device_from_row(row) if row else None


async def page(
    conn: AsyncConnection,
    *,
    owner_id: int | None,
    orphans: bool,
    limit: int,
    offset: int,
) -> tuple[list[Device], int]:
    """Devices ordered by id: all, one owner's, or the orphans."""
    query = sa.select(*DEVICE_COLUMNS).select_from(WITH_PERIOD).order_by(devices.c.id)
    if orphans:
        query = query.where(devices.c.owner_id.is_(None))
    if owner_id is not None:
        query = query.where(devices.c.owner_id == owner_id)
    total = await count(conn, query)
    rows = (await conn.execute(query.limit(limit).offset(offset))).all()
    return [device_from_row(r) for r in rows], total


async def update(conn: AsyncConnection, device_id: int, changes: dict[str, Any]) -> Device | None:
    """Apply column changes (including owner_id); NotFound when a new owner does not exist."""
    values = {**changes, "updated_at": utcnow()}
    try:
        result = await conn.execute(
            devices.update().where(devices.c.id == device_id).values(**values)
        )
    except IntegrityError:
        raise _missing_owner(changes.get("owner_id")) from None
    if result.rowcount:
        await bump_epoch(conn)
    return await get(conn, device_id)


async def start_period(
    conn: AsyncConnection, device_id: int, owner_id: int | None, *, include_history: bool
) -> int:
    """End the device's open assignment period and, for an owner, open theirs; returns the
    moment. Called in the transaction that changes the owner, after the devices row (whose
    lock orders concurrent changes)."""
    moment = assignment_moment()
    await conn.execute(_open_period(device_id).values(ended_ts=moment))
    if owner_id is not None:
        await conn.execute(
            device_assignments.insert().values(
                device_id=device_id,
                user_id=owner_id,
                started_ts=moment,
                include_history=include_history,
            )
        )
    return moment


async def set_history(conn: AsyncConnection, device_id: int, include_history: bool) -> None:
    """Widen or narrow what the current owner sees, keeping when their period began."""
    await conn.execute(_open_period(device_id).values(include_history=include_history))
    await bump_epoch(conn)


def _open_period(device_id: int) -> sa.Update:
    return device_assignments.update().where(
        device_assignments.c.device_id == device_id, device_assignments.c.ended_ts.is_(None)
    )


async def delete(conn: AsyncConnection, device_id: int) -> bool:
    result = await conn.execute(devices.delete().where(devices.c.id == device_id))
    if result.rowcount:
        await bump_epoch(conn)
    return result.rowcount > 0


async def epoch(conn: AsyncConnection) -> int | None:
    """A counter every change to a device's limit, kind, owner or description (and every
    device or user deletion) moves on: cached meters are current while it stands still."""
    result = await conn.exec_driver_sql("SELECT epoch FROM device_epoch WHERE id = 1")
    row = result.first()
    return int(row[0]) if row else None


async def bump_epoch(conn: AsyncConnection) -> None:
    """Tell every process's meter cache, at this transaction's commit, that devices changed."""
    await conn.execute(device_epoch.update().values(epoch=device_epoch.c.epoch + 1))
