"""Consumption out: hourly per local day, daily over a range, raw readings.

A user sees a device's data from the start of their assignment period (services/devices.py
`visible_from`): the hour that period starts in holds only the readings from then on.

Hours are the stored UTC clock hours. A local day holds the hours that start inside it:
23 or 25 on daylight-saving change days; in zones whose offset is not whole hours (such as
Asia/Kolkata), the hours start at half past in local time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from energymon.models import Device, Principal, StoredReading
from energymon.services.devices import DeviceService, visible_from
from energymon.storage import Database
from energymon.storage import readings as readings_store

HOUR = 3600
MAX_DAYS = 366
# Rows read per query of an export: each page is a short read and little work on the loop.
EXPORT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Hour:
    start: datetime
    total_mwh: int | None
    readings: int


@dataclass(frozen=True, slots=True)
class Day:
    date: date
    total_mwh: int | None
    hours_with_data: int


def day_bounds(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """Unix seconds of the local midnight starting `day` and the next one."""
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return int(start.timestamp()), int(end.timestamp())


def hours_in(start: int, end: int) -> range:
    """The UTC hours that start in [start, end)."""
    first = start if start % HOUR == 0 else start - start % HOUR + HOUR
    return range(first, end, HOUR)


class ConsumptionService:
    """Reads totals and readings for the devices a caller may see."""

    def __init__(self, db: Database, devices: DeviceService) -> None:
        self._db = db
        self._devices = devices

    async def hourly(
        self, principal: Principal, device_id: int, day: date, tz: ZoneInfo
    ) -> tuple[Device, list[Hour]]:
        device = await self._devices.get(principal, device_id)
        start, end = day_bounds(day, tz)
        since = visible_from(principal, device)
        async with self._db.read() as conn:
            rows = await readings_store.hours(conn, device_id, start, end, since)
        hours = [
            Hour(
                datetime.fromtimestamp(h, UTC).astimezone(tz),
                rows[h][0] if h in rows else None,
                rows[h][1] if h in rows else 0,
            )
            for h in hours_in(start, end)
        ]
        return device, hours

    async def daily(
        self, principal: Principal, device_id: int, first: date, last: date, tz: ZoneInfo
    ) -> tuple[Device, list[Day]]:
        device = await self._devices.get(principal, device_id)
        start, _ = day_bounds(first, tz)
        _, end = day_bounds(last, tz)
        since = visible_from(principal, device)
        async with self._db.read() as conn:
            rows = await readings_store.hours(conn, device_id, start, end, since)
        days = []
        current = first
        while current <= last:
            lo, hi = day_bounds(current, tz)
            values = [rows[h][0] for h in hours_in(lo, hi) if h in rows]
            days.append(Day(current, sum(values) if values else None, len(values)))
            current += timedelta(days=1)
        return device, days

    async def readings(
        self,
        principal: Principal,
        device_id: int,
        start: int,
        end: int,
        *,
        after_ts: int | None,
        limit: int,
    ) -> tuple[Device, list[StoredReading]]:
        device = await self._devices.get(principal, device_id)
        start = max(start, visible_from(principal, device))
        async with self._db.read() as conn:
            rows = await readings_store.page(
                conn, device_id, start, end, after_ts=after_ts, limit=limit
            )
        return device, rows

    async def export(
        self, principal: Principal, device_id: int, start: int, end: int, *, limit: int
    ) -> tuple[Device, AsyncIterator[list[StoredReading]]]:
        """The device (checked now, so a refusal comes before any data) and up to `limit`
        readings in [start, end), read page by page as the caller consumes them."""
        device = await self._devices.get(principal, device_id)
        start = max(start, visible_from(principal, device))
        return device, self._pages(device_id, start, end, limit)

    async def _pages(
        self, device_id: int, start: int, end: int, limit: int
    ) -> AsyncIterator[list[StoredReading]]:
        after: int | None = None
        while limit > 0:
            size = min(EXPORT_PAGE, limit)
            # One short read per page (keyset on ts): no transaction stays open while the
            # client downloads, and memory does not depend on the row count.
            async with self._db.read() as conn:
                rows = await readings_store.page(
                    conn, device_id, start, end, after_ts=after, limit=size
                )
            if rows:
                yield rows
            if len(rows) < size:
                return
            limit -= len(rows)
            after = rows[-1].ts
