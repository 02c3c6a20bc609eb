"""The in-process bus (no broker configured), and the demo's simulated meters on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from energymon import keys
from energymon.app import create_app
from energymon.demo import DEMO_USER
from tests.conftest import make_config
from tests.ingest.conftest import hourly


async def test_the_in_process_bus_stores_good_readings_and_keeps_refused_ones(
    client, admin, alice, make_meter
):
    meter = await make_meter(alice, max_kwh=100)
    bus = client.app[keys.BUS]
    for minute in range(0, 60, 10):
        reading = {"device_id": meter.id, "ts": f"2026-11-20T07:{minute:02d}:00Z", "value": 0.25}
        bus.publish(json.dumps(reading).encode())
    bus.publish(b'{"device_id": 1, "ts": "soon", "value": 1}')
    await bus.drained()
    day = await hourly(client, alice, meter.id, "2026-11-20")
    hour = next(h for h in day["hours"] if h["start"].startswith("2026-11-20T07"))
    assert (hour["kwh"], hour["readings"]) == (1.5, 6)
    assert [letter.reasons for letter in bus.dead_letters] == [
        ["rejected: ts 'soon' is not an RFC 3339 timestamp"]
    ]


async def test_demo_mode_fills_today_with_simulated_readings(aiohttp_client, tmp_path):
    config = make_config(f"sqlite:///{tmp_path}/demo.db")  # demo mode migrates it
    demo_config = config.model_copy(update={"demo": True})
    client = await aiohttp_client(create_app(demo_config))
    await client.app[keys.BUS].drained()
    resp = await client.post(
        "/api/v1/auth/login", json={"email": DEMO_USER.email, "password": DEMO_USER.password}
    )
    token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    devices = (await (await client.get("/api/v1/devices", headers=headers)).json())["items"]
    assert len(devices) == 3
    today = datetime.now(UTC).date().isoformat()
    resp = await client.get(
        f"/api/v1/devices/{devices[0]['id']}/consumption/hourly",
        params={"date": today},
        headers=headers,
    )
    hours = (await resp.json())["hours"]
    past = [h for h in hours if datetime.fromisoformat(h["start"]).hour < datetime.now(UTC).hour]
    assert all(h["kwh"] is not None and h["kwh"] > 0 for h in past)


async def test_a_batch_larger_than_one_transaction_is_stored_whole(
    client, admin, alice, make_meter
):
    """Five gateway messages of 3,000 readings: more than one transaction holds, so the batch
    is stored in slices; a key the first slice stored comes again in the last, with another
    value."""
    meter = await make_meter(alice, max_kwh=1_000_000)
    start = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    messages = [
        [{"device_id": meter.id, "ts": start + 5 * n, "value": 0.001} for n in range(m, 15_000, 5)]
        for m in range(5)
    ]
    messages[4][-1] = {"device_id": meter.id, "ts": start, "value": 0.002}  # first slice's key
    bus = client.app[keys.BUS]
    for readings in messages:
        bus.publish(json.dumps(readings).encode())
    await bus.drained()
    assert [letter.reasons for letter in bus.dead_letters] == [
        ["conflict: 0.001 kWh is already stored for this time"]
    ]
    day = await hourly(client, alice, meter.id, "2026-11-20")
    assert sum(h["readings"] or 0 for h in day["hours"]) == 14_999
    assert sum(h["kwh"] or 0 for h in day["hours"]) == pytest.approx(14.999)
