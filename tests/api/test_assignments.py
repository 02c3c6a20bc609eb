"""Assignment periods: a reassigned device shows its new owner only what came after.

Readings are sent with real times around the assignment moment, which the API reports as
`owner_since`; every expectation is computed here from the readings sent.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from tests.api.helpers import ok, problem
from tests.conftest import Actor

HOUR = 3600
MWH = 1_000_000  # per kWh
BASE = "/api/v1/devices/{}"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def since(device: dict[str, Any]) -> int:
    return int(datetime.fromisoformat(device["owner_since"]).timestamp())


class Scene:
    """A device whose readings this test sent, keyed by time, in mWh."""

    def __init__(self, client: TestClient, admin: Actor, device: dict[str, Any], token: str):
        self.client, self.admin, self.device, self.token = client, admin, device, token
        self.sent: dict[int, int] = {}

    async def send(self, readings: dict[int, float]) -> None:
        body = [{"ts": ts, "value": value} for ts, value in readings.items()]
        result = await ok(
            await self.client.post(
                "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        )
        assert {item["status"] for item in result["items"]} == {"stored"}, result
        self.sent.update({ts: round(value * MWH) for ts, value in readings.items()})

    async def assign(self, owner: Actor, **extra: Any) -> dict[str, Any]:
        url = BASE.format(self.device["id"]) + "/owner"
        body = {"user_id": owner.id, **extra}
        self.device = await ok(await self.client.put(url, json=body, headers=self.admin.headers))
        return self.device

    async def get(self, actor: Actor, path: str, **params: Any) -> Any:
        url = BASE.format(self.device["id"]) + path
        return await ok(await self.client.get(url, params=params, headers=actor.headers))

    # ---- what an account sees, through every read path ----------------------------------

    def dates(self) -> list[str]:
        return sorted({day(ts) for ts in self.sent} | {day(int(time.time()))})

    async def readings(self, actor: Actor, csv_too: bool = True) -> dict[int, int]:
        lo, hi = min(self.sent) - HOUR, int(time.time()) + 600
        page = await self.get(actor, "/readings", **{"from": iso(lo), "to": iso(hi)})
        seen = {_ts(r["ts"]): round(r["consumption_kwh"] * MWH) for r in page["items"]}
        if csv_too:
            text = await self.get(actor, "/readings.csv", **{"from": iso(lo), "to": iso(hi)})
            assert {_ts(r["ts"]): round(float(r["consumption_kwh"]) * MWH) for r in _csv(text)} == (
                seen
            )
        return seen

    async def hours(self, actor: Actor) -> dict[int, tuple[int, int]]:
        """{hour start: (mWh, readings)} of the hours with data, from JSON and CSV alike."""
        found: dict[int, tuple[int, int]] = {}
        for date in self.dates():
            hourly = await self.get(actor, "/consumption/hourly", date=date, tz="UTC")
            text = await self.get(actor, "/consumption/hourly.csv", date=date, tz="UTC")
            rows = {
                _ts(r["hour_start"]): (round(float(r["kwh"]) * MWH), int(r["readings"]))
                for r in _csv(text)
                if r["kwh"]
            }
            from_json = {
                _ts(h["start"]): (round(h["kwh"] * MWH), h["readings"])
                for h in hourly["hours"]
                if h["kwh"] is not None
            }
            assert rows == from_json
            found.update(from_json)
        return found

    async def days(self, actor: Actor) -> dict[str, int]:
        dates = self.dates()
        params = {"from": dates[0], "to": dates[-1], "tz": "UTC"}
        daily = await self.get(actor, "/consumption/daily", **params)
        text = await self.get(actor, "/consumption/daily.csv", **params)
        found = {d["date"]: round(d["kwh"] * MWH) for d in daily["days"] if d["kwh"] is not None}
        assert {r["date"]: round(float(r["kwh"]) * MWH) for r in _csv(text) if r["kwh"]} == found
        return found

    async def alerts(self, actor: Actor) -> list[int]:
        """Hour starts of the device's alerts the account is shown, newest first."""
        page = await ok(await self.client.get("/api/v1/alerts", headers=actor.headers))
        return [_ts(a["hour_start"]) for a in page["items"] if a["device_id"] == self.device["id"]]

    async def alert_ids(self) -> dict[int, int]:
        page = await ok(await self.client.get("/api/v1/alerts", headers=self.admin.headers))
        return {_ts(a["hour_start"]): a["id"] for a in page["items"]}

    # ---- what they should see, from the readings sent ------------------------------------

    def expected(self, start: int) -> tuple[dict[int, int], dict[int, tuple[int, int]], dict]:
        readings = {ts: v for ts, v in self.sent.items() if ts >= start}
        hours: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        days: dict[str, int] = defaultdict(int)
        for ts, value in readings.items():
            hours[ts - ts % HOUR][0] += value
            hours[ts - ts % HOUR][1] += 1
            days[day(ts)] += value
        return readings, {h: (t, n) for h, (t, n) in hours.items()}, dict(days)

    async def assert_sees(self, actor: Actor, start: int) -> None:
        readings, hours, days = self.expected(start)
        assert await self.readings(actor) == readings
        assert await self.hours(actor) == hours
        assert await self.days(actor) == days


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def scene(client: TestClient, admin: Actor, owner: Actor) -> Scene:
    """A 1 kWh/h device of `owner` with an over-limit hour two hours ago and a reading in
    this hour, all before now."""
    body = {"description": "Flat 3 meter", "max_hourly_kwh": 1, "owner_id": owner.id}
    device = await ok(await client.post("/api/v1/devices", json=body, headers=admin.headers), 201)
    url = BASE.format(device["id"]) + "/ingest-token"
    token = (await ok(await client.post(url, headers=admin.headers), 201))["token"]
    made = Scene(client, admin, device, token)
    now = int(time.time())
    old_hour = now - now % HOUR - 2 * HOUR
    await made.send({old_hour + 60: 0.7, old_hour + 120: 0.6, now - 2: 0.25})
    return made


async def test_a_new_owner_sees_only_what_came_after_the_assignment(client, admin, alice, bob):
    meter = await scene(client, admin, alice)
    device = await meter.assign(bob)
    start = since(device)
    assert device["owner_id"] == bob.id and device["include_history"] is False
    assert start >= int(time.time()) - 5
    # bob's own readings; then one of alice's, stamped before the change, arrives late.
    await meter.send({start: 0.125, start + 1: 1.5})
    await meter.send({start - 1: 0.0625})

    await meter.assert_sees(bob, start)
    # The hour the change falls in holds exactly bob's part of it, over his limit (unless
    # the change fell on the last second of an hour).
    straddled = start - start % HOUR
    hourly = await meter.get(bob, "/consumption/hourly", date=day(straddled), tz="UTC")
    [hour] = [h for h in hourly["hours"] if _ts(h["start"]) == straddled]
    if start % HOUR < HOUR - 1:
        assert (hour["kwh"], hour["readings"], hour["over_limit"]) == (1.625, 2, True)

    # Alerts: alice's old hour and the straddled hour (its total holds alice's part too)
    # are not bob's to see or acknowledge; only hours starting in his period are.
    alerts = await meter.alert_ids()
    old_hour = min(meter.sent) - min(meter.sent) % HOUR
    assert old_hour in alerts and len(alerts) == 2
    assert await meter.alerts(bob) == [h for h in sorted(alerts, reverse=True) if h >= start]
    for hour_ts, alert_id in alerts.items():
        if hour_ts < start:
            url = f"/api/v1/alerts/{alert_id}/ack"
            await problem(await client.post(url, headers=bob.headers), 404)

    # The previous owner sees nothing of the device any more.
    for path in ("", "/consumption/hourly", "/readings"):
        params = {"date": day(start)} if "hourly" in path else {}
        if path == "/readings":
            params = {"from": iso(start - HOUR), "to": iso(start + HOUR)}
        url = BASE.format(meter.device["id"]) + path
        await problem(await client.get(url, params=params, headers=alice.headers), 404)
    assert await meter.alerts(alice) == []
    for alert_id in alerts.values():
        url = f"/api/v1/alerts/{alert_id}/ack"
        await problem(await client.post(url, headers=alice.headers), 404)

    # Admins see everything.
    await meter.assert_sees(admin, 0)
    assert await meter.alerts(admin) == sorted(alerts, reverse=True)


async def test_with_include_history_the_new_owner_sees_everything(client, admin, alice, bob):
    meter = await scene(client, admin, alice)
    device = await meter.assign(bob, include_history=True)
    assert device["include_history"] is True and device["owner_since"] is not None
    await meter.send({since(device): 0.5})

    await meter.assert_sees(bob, 0)
    alerts = await meter.alert_ids()
    assert await meter.alerts(bob) == sorted(alerts, reverse=True) != []
    alert_id = next(iter(alerts.values()))
    acked = await ok(await client.post(f"/api/v1/alerts/{alert_id}/ack", headers=bob.headers))
    assert acked["acknowledged_at"] is not None


async def test_assigning_the_owner_again_keeps_the_start_and_sets_the_history(
    client, admin, alice, bob
):
    meter = await scene(client, admin, alice)
    first = await meter.assign(bob)
    assert await meter.readings(bob, csv_too=False) == {}
    widened = await meter.assign(bob, include_history=True)
    assert (widened["owner_since"], widened["include_history"]) == (first["owner_since"], True)
    await meter.assert_sees(bob, 0)
    narrowed = await meter.assign(bob)
    assert (narrowed["owner_since"], narrowed["include_history"]) == (first["owner_since"], False)
    await meter.assert_sees(bob, since(first))


async def test_an_owner_given_the_device_back_starts_a_new_period(client, admin, alice, bob):
    meter = await scene(client, admin, alice)
    await meter.assert_sees(alice, 0)  # a device created for alice: all of its data is hers
    assert meter.device["include_history"] is True
    await meter.assign(bob)
    url = BASE.format(meter.device["id"]) + "/owner"
    orphan = await ok(await client.delete(url, headers=admin.headers))
    assert (orphan["owner_id"], orphan["owner_since"]) == (None, None)
    back = await meter.assign(alice)
    await meter.send({since(back): 0.5})
    await meter.assert_sees(alice, since(back))
    listed = await ok(await client.get("/api/v1/devices", headers=alice.headers))
    assert [d["owner_since"] for d in listed["items"]] == [back["owner_since"]]


async def test_deleting_the_owner_or_the_device_ends_the_period(client, admin, alice, bob):
    meter = await scene(client, admin, alice)
    await ok(await client.delete(f"/api/v1/users/{alice.id}", headers=admin.headers), 204)
    orphan = await meter.get(admin, "")
    assert (orphan["owner_id"], orphan["owner_since"], orphan["include_history"]) == (
        None,
        None,
        False,
    )
    device = await meter.assign(bob)
    await meter.send({since(device): 0.5})
    await meter.assert_sees(bob, since(device))
    await ok(await client.delete(BASE.format(device["id"]), headers=admin.headers), 204)
    await problem(await client.get(BASE.format(device["id"]), headers=bob.headers), 404)
    assert await meter.alerts(admin) == []
