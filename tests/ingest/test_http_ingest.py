"""Readings over HTTP: stored once, totals exact, alerts once per device-hour."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import sqlite_only
from tests.ingest.conftest import hourly, kwh_by_hour

DAY = "2026-11-20"


def at(hh: int, mm: int = 0, ss: int = 0, day: str = DAY) -> str:
    return f"{day}T{hh:02d}:{mm:02d}:{ss:02d}Z"


async def test_each_reading_stored_once_and_the_hour_is_exact(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=100)
    first = await meter.send(
        [
            {"device_id": meter.id, "ts": at(10, 0), "value": 0.412},
            {"device_id": meter.id, "ts": at(10, 10), "value": 0.1},
            {"device_id": meter.id, "ts": at(10, 20), "value": 0.2},
        ]
    )
    assert [i["status"] for i in first["items"]] == ["stored"] * 3
    again = await meter.send(
        [
            {"device_id": meter.id, "ts": at(10, 10), "value": 0.1},  # resent: no-op
            {"device_id": meter.id, "ts": at(10, 20), "value": 0.9},  # different value
            {"device_id": meter.id, "ts": at(10, 30), "value": 0.3},
        ]
    )
    assert [i["status"] for i in again["items"]] == ["duplicate", "conflict", "stored"]
    assert "0.2" in again["items"][1]["reason"]
    assert (again["stored"], again["duplicates"], again["conflicts"]) == (1, 1, 1)

    day = await hourly(client, alice, meter.id, DAY)
    hour = next(h for h in day["hours"] if h["start"].startswith(f"{DAY}T10:00"))
    assert hour["kwh"] == pytest.approx(1.012, abs=1e-9)  # 0.412 + 0.1 + 0.2 + 0.3
    assert hour["readings"] == 4
    assert len(day["hours"]) == 24
    assert sum(1 for h in day["hours"] if h["kwh"] is None) == 23  # no data is null, not 0


async def test_aliases_and_unix_seconds_are_accepted(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=100)
    ts = int(datetime(2026, 11, 20, 8, 5, tzinfo=UTC).timestamp())
    result = await meter.send(
        [
            {"deviceId": meter.id, "timestamp": ts, "measurement_value": 0.25},
            {"ts": "2026-11-20T09:35:00+01:00", "value": 0.5},  # device from the token
        ]
    )
    assert result["stored"] == 2
    day = kwh_by_hour(await hourly(client, alice, meter.id, DAY))
    assert day["08:00"] == pytest.approx(0.75)


async def test_a_reading_at_the_full_hour_opens_the_new_hour(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=100)
    await meter.send(
        [
            {"ts": at(11, 59, 59), "value": 1},
            {"ts": at(12, 0, 0), "value": 2},
        ]
    )
    day = kwh_by_hour(await hourly(client, alice, meter.id, DAY))
    assert (day["11:00"], day["12:00"]) == (1, 2)


@sqlite_only
@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"ts": at(1), "value": -0.1}, "negative"),
        ({"ts": at(1), "value": "0.4"}, "must be a number"),
        ({"ts": at(1), "value": True}, "must be a number"),
        ({"ts": at(1)}, "missing field value"),
        ({"value": 1}, "missing field ts"),
        ({"ts": "2026-11-20T01:00:00", "value": 1}, "offset"),
        ({"ts": "yesterday", "value": 1}, "RFC 3339"),
        ({"ts": "1999-12-31T23:59:59Z", "value": 1}, "before 2000"),
        ({"ts": 4102444800, "value": 1}, "future"),
        ({"device_id": "7", "ts": at(1), "value": 1}, "positive integer"),
        ([1, 2], "should be an object"),
    ],
)
async def test_bad_readings_are_refused_with_a_reason(client, alice, make_meter, item, reason):
    meter = await make_meter(alice, max_kwh=100)
    body = await meter.send(item, expect=422)
    assert body["status"] == 422
    assert reason in body["detail"]
    day = await hourly(client, alice, meter.id, DAY)
    assert all(h["kwh"] is None for h in day["hours"])  # nothing stored


async def test_a_token_writes_its_own_device_only(client, alice, make_meter):
    mine = await make_meter(alice)
    other = await make_meter(alice)
    body = await mine.send(
        [{"device_id": other.id, "ts": at(3), "value": 1}, {"ts": at(3), "value": 0.5}]
    )
    assert [i["status"] for i in body["items"]] == ["rejected", "stored"]
    assert f"device {mine.id} only" in body["items"][0]["reason"]


async def test_tokens_are_checked_and_rotation_revokes_the_old_one(
    client, admin, alice, make_meter
):
    meter = await make_meter(alice)
    resp = await client.post(
        "/api/v1/ingest", json={"ts": at(1), "value": 1}, headers={"Authorization": "Bearer nope"}
    )
    assert resp.status == 401
    resp = await client.post(f"/api/v1/devices/{meter.id}/ingest-token", headers=alice.headers)
    assert resp.status == 403
    resp = await client.post(f"/api/v1/devices/{meter.id}/ingest-token", headers=admin.headers)
    new_token = (await resp.json())["token"]
    resp = await client.post(
        "/api/v1/ingest",
        json={"ts": at(1), "value": 1},
        headers={"Authorization": f"Bearer {meter.token}"},
    )
    assert resp.status == 401
    meter.token = new_token
    assert (await meter.send({"ts": at(1), "value": 1}))["stored"] == 1


async def test_crossing_the_limit_raises_one_alert_for_the_owner_only(
    client, admin, alice, bob, make_meter
):
    meter = await make_meter(alice, max_kwh=1.0)
    await meter.send({"ts": at(14, 0), "value": 0.6})
    await meter.send({"ts": at(14, 10), "value": 0.4})  # exactly at the limit: not over
    resp = await client.get("/api/v1/alerts", headers=alice.headers)
    assert (await resp.json())["items"] == []
    await meter.send({"ts": at(14, 20), "value": 0.3})  # 1.3 > 1.0
    await meter.send({"ts": at(14, 30), "value": 0.3})  # still over: no second alert
    resp = await client.get("/api/v1/alerts", headers=alice.headers)
    page = await resp.json()
    assert len(page["items"]) == 1
    alert = page["items"][0]
    assert alert["kind"] == "hourly_limit"
    assert alert["device_id"] == meter.id
    assert alert["total_kwh"] == pytest.approx(1.3)
    assert alert["limit_kwh"] == 1.0
    assert alert["hour_start"].startswith(f"{DAY}T14:00")
    assert alert["late"] is True  # that hour ended long ago

    resp = await client.get("/api/v1/alerts", headers=bob.headers)
    assert (await resp.json())["items"] == []
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=bob.headers)
    assert resp.status == 404
    resp = await client.get("/api/v1/alerts", headers=admin.headers)
    assert len((await resp.json())["items"]) == 1
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=alice.headers)
    assert (await resp.json())["acknowledged_at"] is not None
    resp = await client.get("/api/v1/alerts?unacknowledged=true", headers=alice.headers)
    assert (await resp.json())["items"] == []

    day = await hourly(client, alice, meter.id, DAY)
    hour = next(h for h in day["hours"] if h["start"].startswith(f"{DAY}T14:00"))
    assert hour["over_limit"] is True


async def test_a_current_hour_alert_is_not_late(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=0.5)
    now = datetime.now(UTC).replace(microsecond=0)
    await meter.send({"ts": now.isoformat(), "value": 0.7})
    page = await (await client.get("/api/v1/alerts", headers=alice.headers)).json()
    assert len(page["items"]) == 1
    assert page["items"][0]["late"] is False


async def test_a_new_limit_applies_to_the_next_reading(client, admin, alice, make_meter):
    meter = await make_meter(alice, max_kwh=10)
    await meter.send({"ts": at(5), "value": 2})
    resp = await client.patch(
        f"/api/v1/devices/{meter.id}", json={"max_hourly_kwh": 2.5}, headers=admin.headers
    )
    assert resp.status == 200
    await meter.send({"ts": at(5, 30), "value": 1})
    page = await (await client.get("/api/v1/alerts", headers=alice.headers)).json()
    assert len(page["items"]) == 1
    assert page["items"][0]["limit_kwh"] == 2.5


async def test_cumulative_meters_turn_registers_into_consumption(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=100, kind="cumulative")
    await meter.send(
        [
            {"ts": at(6, 50), "value": 1000.0},  # baseline
            {"ts": at(7, 10), "value": 1000.5},
            {"ts": at(7, 40), "value": 1001.7},
            {"ts": at(8, 10), "value": 0.3},  # the register was reset
        ]
    )
    day = kwh_by_hour(await hourly(client, alice, meter.id, DAY))
    assert day["06:00"] == 0
    assert day["07:00"] == pytest.approx(1.7)
    assert day["08:00"] == pytest.approx(0.3)
    # A late reading between two stored ones splits the later one's consumption.
    await meter.send({"ts": at(7, 55), "value": 1001.9})
    day = kwh_by_hour(await hourly(client, alice, meter.id, DAY))
    assert day["07:00"] == pytest.approx(1.9)
    assert day["08:00"] == pytest.approx(0.3)  # reset again after 1001.9


async def test_cumulative_peak_power_raises_one_alert(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=3, kind="cumulative")
    await meter.send(
        [
            {"ts": at(9, 0), "value": 50.0},
            {"ts": at(9, 10), "value": 50.4},  # 2.4 kW
            {"ts": at(9, 15), "value": 50.8},  # 4.8 kW: a peak
            {"ts": at(9, 20), "value": 51.3},  # 6 kW: same hour, same alert
        ]
    )
    page = await (await client.get("/api/v1/alerts", headers=alice.headers)).json()
    kinds = [a["kind"] for a in page["items"]]
    assert kinds == ["peak_power"]
    assert page["items"][0]["power_kw"] == pytest.approx(6.0)


def _random_readings(device_id: int, seed: int, cumulative: bool) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)
    register = 500.0
    out = []
    for step in range(60):
        ts = start + timedelta(minutes=10 * step + rng.randint(0, 9))
        use = round(rng.uniform(0, 0.4), 3)
        register = round(register + use, 3)
        out.append(
            {"device_id": device_id, "ts": ts.isoformat(), "value": register if cumulative else use}
        )
    return out


@pytest.mark.parametrize("kind", ["interval", "cumulative"])
async def test_shuffled_arrival_gives_the_same_totals_and_alerts(
    client, alice, bob, make_meter, kind
):
    ordered = await make_meter(alice, max_kwh=1.2, kind=kind)
    shuffled = await make_meter(bob, max_kwh=1.2, kind=kind)
    readings = _random_readings(ordered.id, 7, kind == "cumulative")
    for chunk in range(0, len(readings), 7):
        await ordered.send(readings[chunk : chunk + 7])
    mixed = [dict(r, device_id=shuffled.id) for r in readings]
    random.Random(3).shuffle(mixed)
    for chunk in range(0, len(mixed), 5):
        await shuffled.send(mixed[chunk : chunk + 5])
    for day in ("2026-11-19", "2026-11-20"):
        a = kwh_by_hour(await hourly(client, alice, ordered.id, day))
        b = kwh_by_hour(await hourly(client, bob, shuffled.id, day))
        assert a == b
    alerts_a = (await (await client.get("/api/v1/alerts", headers=alice.headers)).json())["items"]
    alerts_b = (await (await client.get("/api/v1/alerts", headers=bob.headers)).json())["items"]
    assert alerts_a, "the data is chosen to cross the limit"
    assert sorted((x["kind"], x["hour_start"]) for x in alerts_a) == sorted(
        (x["kind"], x["hour_start"]) for x in alerts_b
    )


async def test_concurrent_writers_keep_the_hour_exact(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=1000)
    readings = [{"ts": at(16, m // 60, m % 60), "value": 0.001 * (m + 1)} for m in range(240)]
    # Eight overlapping senders: every reading is sent by two of them.
    chunks = [readings[i * 30 : i * 30 + 60] for i in range(8)]
    await asyncio.gather(*(meter.send(chunk) for chunk in chunks))
    day = await hourly(client, alice, meter.id, DAY)
    hour = next(h for h in day["hours"] if h["start"].startswith(f"{DAY}T16:00"))
    assert hour["readings"] == 240
    assert hour["kwh"] == pytest.approx(sum(0.001 * (m + 1) for m in range(240)), abs=1e-9)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), (DAY, 24)])
async def test_local_days_have_their_real_number_of_hours(client, alice, make_meter, day, hours):
    meter = await make_meter(alice)
    result = await hourly(client, alice, meter.id, day, tz="Europe/Berlin")
    assert len(result["hours"]) == hours
    assert result["hours"][0]["start"].startswith(f"{day}T00:00:00+0")


async def test_daily_totals_and_csv_exports(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=100)
    await meter.send([{"ts": at(1), "value": 1.5}, {"ts": at(2), "value": 2.25}])
    await meter.send({"ts": at(3, day="2026-11-21"), "value": 4})
    resp = await client.get(
        f"/api/v1/devices/{meter.id}/consumption/daily",
        params={"from": "2026-11-19", "to": "2026-11-21"},
        headers=alice.headers,
    )
    days = {d["date"]: d["kwh"] for d in (await resp.json())["days"]}
    assert days == {"2026-11-19": None, "2026-11-20": 3.75, "2026-11-21": 4.0}

    resp = await client.get(
        f"/api/v1/devices/{meter.id}/consumption/hourly.csv",
        params={"date": DAY},
        headers=alice.headers,
    )
    assert resp.content_type == "text/csv"
    lines = (await resp.text()).splitlines()
    assert lines[0] == "hour_start,kwh,readings,over_limit"
    assert lines[2] == "2026-11-20T01:00:00+00:00,1.5,1,false"
    assert lines[1] == "2026-11-20T00:00:00+00:00,,0,false"

    resp = await client.get(
        f"/api/v1/devices/{meter.id}/readings.csv",
        params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z"},
        headers=alice.headers,
    )
    lines = (await resp.text()).splitlines()
    assert lines == [
        "ts,value_kwh,consumption_kwh",
        "2026-11-20T01:00:00+00:00,1.5,1.5",
        "2026-11-20T02:00:00+00:00,2.25,2.25",
        "2026-11-21T03:00:00+00:00,4.0,4.0",
    ]


async def test_raw_readings_page_with_a_cursor(client, alice, bob, make_meter):
    meter = await make_meter(alice, max_kwh=100)
    await meter.send([{"ts": at(0, m), "value": 0.01} for m in range(0, 50)])
    url = f"/api/v1/devices/{meter.id}/readings"
    params = {"from": at(0), "to": at(1), "limit": "20"}
    seen = []
    after = None
    while True:
        query = dict(params, **({"after": str(after)} if after is not None else {}))
        page = await (await client.get(url, params=query, headers=alice.headers)).json()
        seen += [r["ts"] for r in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    assert len(seen) == 50 == len(set(seen))
    resp = await client.get(url, params=params, headers=bob.headers)
    assert resp.status == 404  # not bob's device


async def test_stored_readings_hours_and_alerts_are_announced_on_the_hub(client, alice, make_meter):
    from energymon import keys
    from energymon.events import AlertRaised, HourTotalChanged

    heard = []
    client.app[keys.HUB].subscribe(heard.append)
    meter = await make_meter(alice, max_kwh=1.0)
    await meter.send([{"ts": at(14, 0), "value": 0.6}, {"ts": at(14, 10), "value": 0.7}])
    kinds = [e.kind for e in heard]
    assert kinds.count("reading") == 2
    assert kinds.count("hourly") == 1
    (raised,) = [e for e in heard if isinstance(e, AlertRaised)]
    assert raised.alert.owner_id == alice.id
    assert raised.alert.device_id == meter.id
    assert raised.alert.value == 1_300_000  # mWh
    (hourly_event,) = [e for e in heard if isinstance(e, HourTotalChanged)]
    assert (hourly_event.total_mwh, hourly_event.limit_wh) == (1_300_000, 1000)
    assert hourly_event.over_limit


async def _slowly(body: bytes, pieces: int = 20):
    """The body in pieces with a pause between them, as a meter on a slow link sends it."""
    step = -(-len(body) // pieces)
    for start in range(0, len(body), step):
        yield body[start : start + step]
        await asyncio.sleep(0.01)  # the scenario (a slow sender), not a synchronisation


async def test_a_large_body_sent_in_slow_chunks_is_read_whole(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=1_000_000)
    start = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    readings = [{"ts": start + 10 * n, "value": 0.001} for n in range(4000)]
    body = json.dumps(readings).encode()
    assert len(body) > 130_000
    resp = await client.post(
        "/api/v1/ingest",
        data=_slowly(body),
        headers={"Authorization": f"Bearer {meter.token}", "Content-Type": "application/json"},
    )
    result = await resp.json()
    assert resp.status == 200, result
    assert result["stored"] == 4000


@sqlite_only
async def test_more_readings_than_the_cap_are_refused_whole(client, alice, make_meter):
    meter = await make_meter(alice, max_kwh=1_000_000)
    start = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
    body = await meter.send([{"ts": start + n, "value": 0.001} for n in range(10_001)], expect=422)
    assert "at most 10,000 readings" in body["detail"]
    day = await hourly(client, alice, meter.id, DAY)
    assert all(h["kwh"] is None for h in day["hours"])  # nothing stored, not even a part


@sqlite_only
@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"ts": "2026-11-20T01:00:00Z", "value": 1, "value": 2}', "duplicate key 'value'"),
        (b'[{"ts": "2026-11-20T01:00:00Z", "value": 1}, {"ts": 1, "ts": 2}]', "duplicate key"),
        (b'{"ts": "2026-11-20T01:00:00Z", "value": NaN}', "NaN"),
        (b"{not json", "not valid JSON"),
    ],
)
async def test_a_malformed_body_is_400_and_nothing_is_stored(
    client, alice, make_meter, raw, detail
):
    meter = await make_meter(alice, max_kwh=100)
    resp = await client.post(
        "/api/v1/ingest",
        data=raw,
        headers={"Authorization": f"Bearer {meter.token}", "Content-Type": "application/json"},
    )
    body = await resp.json()
    assert resp.status == 400, body
    assert detail in body["detail"]
    day = await hourly(client, alice, meter.id, DAY)
    assert all(h["kwh"] is None for h in day["hours"])


@pytest.mark.parametrize(
    ("value", "kwh"),
    [("0.0000025", 0.000002), ("0.0000035", 0.000004), ("0.0000025000000000000000001", 0.000003)],
)
async def test_values_are_rounded_half_to_even_from_the_exact_decimal(
    client, alice, make_meter, value, kwh
):
    meter = await make_meter(alice, max_kwh=100)
    raw = f'{{"ts": "{at(1)}", "value": {value}}}'.encode()
    resp = await client.post(
        "/api/v1/ingest",
        data=raw,
        headers={"Authorization": f"Bearer {meter.token}", "Content-Type": "application/json"},
    )
    assert resp.status == 200, await resp.text()
    resp = await client.get(
        f"/api/v1/devices/{meter.id}/readings",
        params={"from": at(0), "to": at(2)},
        headers=alice.headers,
    )
    (item,) = (await resp.json())["items"]
    assert item["value_kwh"] == kwh
