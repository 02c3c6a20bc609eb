"""Set-up through the real API for the browser tests: devices, ingest tokens, readings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession

from tests.conftest import Actor
from tests.web.conftest import TIMEZONE, api


async def make_device(
    http: ClientSession,
    admin: Actor,
    owner: Actor | None,
    description: str,
    max_hourly_kwh: float = 1.0,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": description,
        "address": "7 Canal Walk",
        "max_hourly_kwh": max_hourly_kwh,
    }
    if owner is not None:
        body["owner_id"] = owner.id
    return await api(http, admin, "POST", "/api/v1/devices", body, expect=201)


async def ingest_token(http: ClientSession, admin: Actor, device_id: int) -> str:
    out = await api(http, admin, "POST", f"/api/v1/devices/{device_id}/ingest-token", expect=201)
    return out["token"]


async def send_readings(http: ClientSession, token: str, readings: list[dict[str, Any]]) -> None:
    """Readings in through the HTTP ingest endpoint, as a meter sends them."""
    async with http.post(
        "/api/v1/ingest", json=readings, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert body["stored"] == len(readings), body


def local_day(days_ago: int) -> date:
    return datetime.now(ZoneInfo(TIMEZONE)).date() - timedelta(days=days_ago)


def local_time(day: date, hour: int, minute: int) -> str:
    zone = ZoneInfo(TIMEZONE)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).isoformat()


async def hourly(http: ClientSession, actor: Actor, device_id: int, day: date) -> dict[str, Any]:
    path = f"/api/v1/devices/{device_id}/consumption/hourly?date={day}&tz={TIMEZONE}"
    return await api(http, actor, "GET", path)
