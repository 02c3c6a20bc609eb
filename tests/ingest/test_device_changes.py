"""Device changes made through one energymon process apply to the next reading another stores.

Each process keeps the meters it ingests for (services/meters.py); two apps on one database
stand for two processes here: the admin works through one, the meter posts to the other.
"""

from __future__ import annotations

import json
from datetime import datetime

from energymon import keys
from energymon.app import create_app
from energymon.events import AlertRaised
from tests.ingest.conftest import Meter

DAY = "2026-11-20"


def at(hh: int, mm: int = 0) -> str:
    return f"{DAY}T{hh:02d}:{mm:02d}:00Z"


def ts(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp())


async def alerts(client, actor) -> list[dict]:
    resp = await client.get("/api/v1/alerts", headers=actor.headers)
    assert resp.status == 200
    return (await resp.json())["items"]


async def test_limit_owner_and_deletion_reach_the_other_process(
    aiohttp_client, config, client, admin, alice, bob, make_meter
):
    other = await aiohttp_client(create_app(config))
    raised: list[AlertRaised] = []  # alerts as the other process announces them (to whom)
    other.app[keys.HUB].subscribe(
        lambda e: raised.append(e) if isinstance(e, AlertRaised) else None,
        lambda kind: kind is AlertRaised,
    )
    made = await make_meter(alice, max_kwh=10, description="Heat pump")
    meter = Meter(made.id, made.token, other)  # the meter posts to the other process
    await meter.send({"ts": at(5), "value": 2})  # that process now knows the device

    # A lower limit: the next reading there crosses it.
    resp = await client.patch(
        f"/api/v1/devices/{meter.id}",
        json={"max_hourly_kwh": 2.5},
        headers=admin.headers,
    )
    assert resp.status == 200
    await meter.send({"ts": at(5, 30), "value": 1})
    [alert] = await alerts(client, alice)
    assert (alert["limit_kwh"], alert["total_kwh"]) == (2.5, 3.0)
    assert [(e.alert.owner_id, e.alert.hour_ts) for e in raised] == [(alice.id, ts(at(5)))]

    # A new owner (shown the device's history, since these readings are in the past): the
    # next alert is announced to them, not to the previous owner.
    resp = await client.put(
        f"/api/v1/devices/{meter.id}/owner",
        json={"user_id": bob.id, "include_history": True},
        headers=admin.headers,
    )
    assert resp.status == 200
    await meter.send({"ts": at(6), "value": 3})
    assert [(e.alert.owner_id, e.alert.hour_ts) for e in raised[1:]] == [(bob.id, ts(at(6)))]
    assert [a["hour_start"] for a in await alerts(client, bob)] == [at(6), at(5)]
    assert await alerts(client, alice) == []

    # The device deleted: the other process refuses its next reading as from an unknown
    # device (sent on its in-process bus, since the ingest token went with the device).
    resp = await client.delete(f"/api/v1/devices/{meter.id}", headers=admin.headers)
    assert resp.status == 204
    bus = other.app[keys.BUS]
    bus.publish(json.dumps({"device_id": meter.id, "ts": at(7), "value": 1}).encode())
    await bus.drained()
    assert [letter.reasons for letter in bus.dead_letters] == [
        [f"rejected: unknown device {meter.id}"]
    ]
