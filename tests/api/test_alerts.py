"""The alert list: newest hour first, paged with the `after` cursor, as each account sees it."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from energymon.storage import alerts as alerts_store
from tests.api.conftest import MakeDevice
from tests.api.helpers import error_fields, ok, problem
from tests.conftest import Actor

HOUR = 3600
URL = "/api/v1/alerts"


async def _alerts_in(
    client: TestClient, admin: Actor, device: dict[str, Any], hours: list[int]
) -> None:
    """One reading over the device's hourly limit in each of these hours: an alert each."""
    url = f"/api/v1/devices/{device['id']}/ingest-token"
    token = (await ok(await client.post(url, headers=admin.headers), 201))["token"]
    body = [{"ts": hour + 60, "value": 1.5} for hour in hours]
    auth = {"Authorization": f"Bearer {token}"}
    result = await ok(await client.post("/api/v1/ingest", json=body, headers=auth))
    assert result["stored"] == len(hours), result


def _key(alert: dict[str, Any]) -> tuple[int, int]:
    return int(datetime.fromisoformat(alert["hour_start"]).timestamp()), alert["id"]


async def _walk(client: TestClient, actor: Actor, limit: int, **params: Any) -> list[Any]:
    """Every alert the account is shown, page by page through `next_after`."""
    seen: list[Any] = []
    after = None
    for _ in range(100):
        query = {"limit": limit, **params} | ({"after": after} if after else {})
        page = await ok(await client.get(URL, params=query, headers=actor.headers))
        assert "total" not in page
        assert len(page["items"]) <= limit
        seen.extend(page["items"])
        after = page["next_after"]
        if after is None:
            return seen
        assert len(page["items"]) == limit
    raise AssertionError("the list never ended")


@pytest.fixture
async def stored(client: TestClient, admin: Actor, alice: Actor, bob: Actor, make_device):
    """Alice owns two devices whose alerts share some hours, Bob one, and one is nobody's;
    every third alert is acknowledged. Returns {device id: its alert hours}."""
    make: MakeDevice = make_device
    base = (int(time.time()) // HOUR - 80) * HOUR
    plan = {
        "alice-1": (alice, [base + i * HOUR for i in range(0, 60, 2)]),
        "alice-2": (alice, [base + i * HOUR for i in range(0, 50, 2)]),
        "bob": (bob, [base + i * HOUR for i in range(1, 20, 2)]),
        "orphan": (None, [base + i * HOUR for i in range(5)]),
    }
    devices: dict[str, dict[str, Any]] = {}
    for name, (owner, hours) in plan.items():
        devices[name] = await make(owner, description=name, max_hourly_kwh=1)
        await _alerts_in(client, admin, devices[name], hours)
    every = await _walk(client, admin, 100)
    for alert in every[::3]:
        await ok(await client.post(f"{URL}/{alert['id']}/ack", headers=admin.headers))
    return devices, {devices[n]["id"]: hours for n, (_o, hours) in plan.items()}


async def test_pages_list_every_alert_once_newest_hour_first(client, admin, alice, bob, stored):
    devices, hours = stored
    mine = {
        admin.id: set(hours),
        alice.id: {devices["alice-1"]["id"], devices["alice-2"]["id"]},
        bob.id: {devices["bob"]["id"]},
    }
    everything = await _walk(client, admin, 100)
    assert len(everything) == sum(len(h) for h in hours.values()) == 70
    acked = {a["id"] for a in everything if a["acknowledged_at"]}
    assert len(acked) == 24
    for actor in (admin, alice, bob):
        for params in ({}, {"unacknowledged": "true"}, {"device_id": devices["alice-2"]["id"]}):
            for limit in (7, 10):
                seen = await _walk(client, actor, limit, **params)
                keys = [_key(a) for a in seen]
                assert keys == sorted(keys, reverse=True), (actor.user.email, params)
                expected = {
                    _key(a)
                    for a in everything
                    if a["device_id"] in mine[actor.id]
                    and (not params.get("unacknowledged") or a["id"] not in acked)
                    and a["device_id"] == params.get("device_id", a["device_id"])
                }
                assert set(keys) == expected and len(keys) == len(expected)
    # Bob's ten alerts fill exactly two pages of five: the second says it is the last.
    assert len(await _walk(client, bob, 5)) == 10


async def test_offset_still_skips(client, admin, alice, bob, stored, monkeypatch):
    for actor in (admin, alice, bob):
        whole = await _walk(client, actor, 100)
        for offset in (3, len(whole) - 2, len(whole) + 5):
            params = {"limit": 4, "offset": offset}
            page = await ok(await client.get(URL, params=params, headers=actor.headers))
            assert page["items"] == whole[offset : offset + 4]
            assert page["offset"] == offset
            assert (page["next_after"] is None) == (offset + 4 >= len(whole))
    # An owner whose devices take several statements skips as far.
    monkeypatch.setattr(alerts_store, "MERGE_CHUNK", 1)
    whole = await _walk(client, alice, 100)
    page = await ok(await client.get(URL, params={"limit": 4, "offset": 6}, headers=alice.headers))
    assert page["items"] == whole[6:10]


@pytest.mark.parametrize(
    "params",
    [
        {"after": "latest"},
        {"after": "1700000000"},
        {"after": "-1-5"},
        {"after": "1700000000-9223372036854775808"},
        {"after": "1" * 13 + "-1"},
        {"offset": 10_001},
    ],
)
async def test_a_cursor_the_list_never_gave_is_a_422(client, alice, params):
    body = await problem(await client.get(URL, params=params, headers=alice.headers), 422)
    assert error_fields(body) == set(params)


async def test_a_cursor_past_every_alert_ends_the_list(client, alice, stored):
    page = await ok(await client.get(URL, params={"after": "0-1"}, headers=alice.headers))
    assert page["items"] == [] and page["next_after"] is None


async def test_owners_of_many_devices_get_the_same_pages(client, alice, stored, monkeypatch):
    """An owner's list merges at most MERGE_CHUNK devices a statement; more take several."""
    whole = await _walk(client, alice, 7)
    monkeypatch.setattr(alerts_store, "MERGE_CHUNK", 1)
    assert await _walk(client, alice, 7) == whole
    assert await _walk(client, alice, 7, unacknowledged="true") == [
        a for a in whole if a["acknowledged_at"] is None
    ]
