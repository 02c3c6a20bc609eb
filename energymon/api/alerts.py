"""Alerts: a user's own devices', or all for admins; acknowledging one."""

from __future__ import annotations

from datetime import UTC, datetime

from energymon import keys
from energymon.api.reading_schemas import (
    AlertKind,
    AlertOut,
    AlertPageOut,
    AlertQuery,
    alert_cursor,
)
from energymon.api.router import ApiRouter, Call
from energymon.models import Alert
from energymon.services.alerts import HOURLY_LIMIT, PEAK_POWER
from energymon.services.readings import mwh_to_kwh

router = ApiRouter()


def _kind(kind: str) -> AlertKind:
    """An alert's kind as the API documents it (each kind the rules raise is listed there)."""
    if kind == HOURLY_LIMIT:
        return "hourly_limit"
    if kind == PEAK_POWER:
        return "peak_power"
    raise ValueError(f"an alert of an undocumented kind: {kind!r}")


def alert_out(alert: Alert) -> AlertOut:
    hourly = alert.kind == HOURLY_LIMIT
    return AlertOut(
        id=alert.id,
        device_id=alert.device_id,
        kind=_kind(alert.kind),
        hour_start=datetime.fromtimestamp(alert.hour_ts, UTC),
        total_kwh=mwh_to_kwh(alert.value) if hourly else None,
        power_kw=None if hourly else mwh_to_kwh(alert.value),
        limit_kwh=alert.limit_wh / 1000,
        late=alert.late,
        created_at=alert.created_at,
        acknowledged_at=alert.acknowledged_at,
    )


@router.route(
    "GET",
    "/api/v1/alerts",
    summary="List alerts",
    tag="alerts",
    auth="user",
    query=AlertQuery,
    response=AlertPageOut,
)
async def list_alerts(call: Call[AlertQuery]) -> AlertPageOut:
    """Newest hour first, a page at a time (`after` = the previous page's `next_after`).
    A user sees the alerts of the devices they own; an admin sees all."""
    q = call.query
    limit = q.capped_limit()
    page = await call.app[keys.ALERTS].list(
        call.me,
        device_id=q.device_id,
        unacknowledged=q.unacknowledged,
        after=q.cursor,
        limit=limit,
        offset=q.offset,
    )
    return AlertPageOut(
        items=[alert_out(a) for a in page.items],
        next_after=alert_cursor(*page.next_after) if page.next_after else None,
        limit=limit,
        offset=q.offset,
    )


@router.route(
    "POST",
    "/api/v1/alerts/{alert_id}/ack",
    summary="Acknowledge an alert",
    tag="alerts",
    auth="user",
    response=AlertOut,
)
async def acknowledge_alert(call: Call) -> AlertOut:
    """Mark the alert as seen (idempotent). Someone else's alert is 404."""
    return alert_out(await call.app[keys.ALERTS].acknowledge(call.me, call.path["alert_id"]))
