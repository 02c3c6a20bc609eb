"""The hourly limit and peak power rules, and reading and acknowledging alerts.

Limits are in kWh per hour (stored as Wh); totals in mWh. An hour's alert is raised by the
reading whose arrival first takes the hour's total above the limit: once per device-hour.
"""

from __future__ import annotations

from dataclasses import dataclass

from energymon.errors import NotFound
from energymon.models import Alert, Principal
from energymon.storage import Database
from energymon.storage import alerts as alerts_store
from energymon.storage.alerts import Cursor

HOURLY_LIMIT = "hourly_limit"
PEAK_POWER = "peak_power"


def over_hourly_limit(total_mwh: int | None, limit_wh: int) -> bool:
    """An hour's total is over the device's maximum hourly consumption (None: no data)."""
    return total_mwh is not None and total_mwh > limit_wh * 1000


def crosses_hourly_limit(before_mwh: int, after_mwh: int, limit_wh: int) -> bool:
    """True when this change takes the hour from at-or-under the limit to over it."""
    return not over_hourly_limit(before_mwh, limit_wh) and over_hourly_limit(after_mwh, limit_wh)


def average_power_mw(delta_mwh: int, seconds: int) -> int:
    """Average power over an interval, in mW (mWh per hour)."""
    return delta_mwh * 3600 // seconds if seconds > 0 else 0


def exceeds_peak(power_mw: int, limit_wh: int) -> bool:
    """A maximum of X kWh per hour is also a power of X kW; above it is a peak."""
    return power_mw > limit_wh * 1000


def is_late(hour_ts: int, now: float) -> bool:
    """The alert is for an hour that had already ended when the reading arrived."""
    return hour_ts + 3600 <= now


@dataclass(frozen=True)
class AlertPage:
    items: list[Alert]
    # (hour_ts, id) of the last item when more follow, else None.
    next_after: Cursor | None


class AlertService:
    """Users see and acknowledge alerts of the devices they own, for the hours that start
    within their assignment period; admins see all."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list(
        self,
        principal: Principal,
        *,
        device_id: int | None,
        unacknowledged: bool,
        limit: int,
        after: Cursor | None = None,
        offset: int = 0,
    ) -> AlertPage:
        """Newest hour first, the page after `after`; never counts the whole list."""
        owner = None if principal.is_admin else principal.user_id
        async with self._db.read() as conn:
            items, more = await alerts_store.page(
                conn,
                owner_id=owner,
                device_id=device_id,
                unacknowledged=unacknowledged,
                after=after,
                limit=limit,
                offset=offset,
            )
        last = items[-1] if more and items else None
        return AlertPage(items, (last.hour_ts, last.id) if last else None)

    async def acknowledge(self, principal: Principal, alert_id: int) -> Alert:
        async with self._db.write() as conn:
            alert = await alerts_store.get(conn, alert_id)
            if alert is None or not (principal.is_admin or alert.owner_id == principal.user_id):
                raise NotFound(f"alert {alert_id} not found")
            await alerts_store.acknowledge(conn, alert_id)
            acknowledged = await alerts_store.get(conn, alert_id)
        assert acknowledged is not None
        return acknowledged
