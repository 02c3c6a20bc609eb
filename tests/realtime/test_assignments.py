"""Live events respect assignment periods: a new owner hears only of data from their period."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from energymon.app import create_app
from tests.realtime.conftest import Api, make_device


@pytest.fixture
async def served(aiohttp_server, config, http):
    server = await aiohttp_server(create_app(config))
    return Api(str(server.make_url("")).rstrip("/"), http)


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_late_reading_from_before_the_assignment_reaches_only_admins(
    served, listen, admin, alice, bob
):
    meter = await make_device(served, admin, alice, max_kwh=1.0)
    old = await listen(served.url, alice)
    new = await listen(served.url, bob)
    watching = await listen(served.url, admin)
    assert await old.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}

    device = await served.ok("PUT", f"/api/v1/devices/{meter.id}/owner", admin, {"user_id": bob.id})
    start = int(datetime.fromisoformat(device["owner_since"]).timestamp())
    assert (await new.wait_for("device_assigned"))["device"]["owner_since"] == device["owner_since"]
    for listener in (new, watching):
        assert await listener.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}

    # A reading stamped just before the change arrives late and takes its hour over the limit.
    await meter.send([{"device_id": meter.id, "ts": start - 1, "value": 2}])
    late = await watching.wait_for("reading")
    assert late["ts"] == rfc3339(start - 1)
    assert (await watching.wait_for("alert"))["total_kwh"] == 2
    # Then one of bob's own: he hears it, and (events reach a socket in order) nothing before.
    await meter.send([{"device_id": meter.id, "ts": start, "value": 0.5}])
    heard = await new.wait_for("reading", lambda p: p["ts"] == rfc3339(start))
    assert heard["value_kwh"] == 0.5
    # (An hour total reaches him only for an hour that starts within his period.)
    assert [event for event, _ in new.heard if event != "hourly"] == ["device_assigned", "reading"]
    assert all(hour["hour"] >= device["owner_since"] for hour in new.events("hourly"))
    assert [event for event, _ in old.heard] == ["device_unassigned"]
