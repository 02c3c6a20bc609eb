"""Consumption and readings at the edges of the calendar: a clear 422, never a 500."""

from __future__ import annotations

import pytest

from tests.api.helpers import error_fields, ok, problem
from tests.conftest import sqlite_only


@sqlite_only
@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1970-01-01"])
@pytest.mark.parametrize("tz", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_hourly_days_out_of_range_are_422(client, alice, make_device, day, tz):
    device = await make_device(alice)
    for suffix in ("hourly", "hourly.csv"):
        resp = await client.get(
            f"/api/v1/devices/{device['id']}/consumption/{suffix}",
            params={"date": day, "tz": tz},
            headers=alice.headers,
        )
        assert "date" in error_fields(await problem(resp, 422))


@sqlite_only
@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("9999-12-31", "9999-12-31", "from"),
        ("9999-12-01", "9999-12-31", "from"),
        ("2026-01-01", "9999-12-31", "to"),
        ("0001-01-01", "0001-01-02", "from"),
    ],
)
async def test_daily_ranges_out_of_range_are_422(client, alice, make_device, start, end, field):
    device = await make_device(alice)
    for suffix in ("daily", "daily.csv"):
        resp = await client.get(
            f"/api/v1/devices/{device['id']}/consumption/{suffix}",
            params={"from": start, "to": end, "tz": "Pacific/Kiritimati"},
            headers=alice.headers,
        )
        assert field in error_fields(await problem(resp, 422))


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00"),
    ],
)
async def test_readings_at_the_ends_of_time_are_answered(client, alice, make_device, start, end):
    device = await make_device(alice)
    for suffix in ("readings", "readings.csv"):
        resp = await client.get(
            f"/api/v1/devices/{device['id']}/{suffix}",
            params={"from": start, "to": end},
            headers=alice.headers,
        )
        assert resp.status in (200, 422), await resp.text()
        if resp.status == 200:
            await ok(resp)


@pytest.mark.parametrize("day", ["1970-01-02", "2999-12-31", "9998-12-31"])
@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Etc/GMT+12"])
async def test_the_first_and_last_days_are_answered(client, alice, make_device, day, tz):
    device = await make_device(alice)
    base = f"/api/v1/devices/{device['id']}/consumption"
    body = await ok(
        await client.get(f"{base}/hourly", params={"date": day, "tz": tz}, headers=alice.headers)
    )
    assert body["hours"] and all(h["kwh"] is None for h in body["hours"])
    await ok(
        await client.get(
            f"{base}/daily.csv", params={"from": day, "to": day, "tz": tz}, headers=alice.headers
        )
    )
