"""Devices table queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import NotFound
from energymon.models import Device
from energymon.storage.common import aware, count, utcnow
from energymon.storage.schema import device_epoch, devices

_COLUMNS = (
    devices.c.id,
    devices.c.description,
    devices.c.address,
    devices.c.max_hourly_wh,
    devices.c.owner_id,
    devices.c.created_at,
    devices.c.meter_kind,
)


def _device(row: sa.Row[Any]) -> Device:
    return Device(
        id=row.id,
        description=row.description,
        address=row.address,
        max_hourly_wh=int(row.max_hourly_wh),
        owner_id=row.owner_id,
        created_at=aware(row.created_at),
        meter_kind=row.meter_kind,
    )


def _missing_owner(owner_id: int | None) -> NotFound:
    return NotFound(f"user {owner_id} not found")


async def insert(
    conn: AsyncConnection,
    *,
    description: str,
    address: str,
    max_hourly_wh: int,
    owner_id: int | None,
    meter_kind: str = "interval",
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
    return Device(
        id=result.inserted_primary_key[0],
        description=description,
        address=address,
        max_hourly_wh=max_hourly_wh,
        owner_id=owner_id,
        created_at=aware(now),
        meter_kind=meter_kind,
    )


async def get(conn: AsyncConnection, device_id: int) -> Device | None:
    row = (await conn.execute(sa.select(*_COLUMNS).where(devices.c.id == device_id))).first()
    return _device(row) if row else None


async def page(
    conn: AsyncConnection,
    *,
    owner_id: int | None,
    orphans: bool,
    limit: int,
    offset: int,
) -> tuple[list[Device], int]:
    """Devices ordered by id: all, one owner's, or the orphans."""
    query = sa.select(*_COLUMNS).order_by(devices.c.id)
    if orphans:
        query = query.where(devices.c.owner_id.is_(None))
    if owner_id is not None:
        query = query.where(devices.c.owner_id == owner_id)
    total = await count(conn, query)
    rows = (await conn.execute(query.limit(limit).offset(offset))).all()
    return [_device(r) for r in rows], total


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
