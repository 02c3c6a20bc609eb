"""Readings through a real RabbitMQ: stored once, bad ones dead-lettered with reasons."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import aio_pika
import pytest

from energymon.app import create_app
from energymon.broker.topology import ROUTING_KEY, Names
from energymon.ingest.amqp import REASON_HEADER
from tests.conftest import make_config
from tests.ingest.conftest import LoopProbe, hourly, kwh_by_hour

DAY = "2026-11-20"


@pytest.fixture
async def amqp_client(aiohttp_client, db_url, rabbit, names):
    config = make_config(
        db_url, broker={"url": rabbit, "namespace": names.namespace, "batch_wait_ms": 5}
    )
    return await aiohttp_client(create_app(config))


async def publish(rabbit: str, names: Names, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(rabbit)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.exchange)
        for body in bodies:
            await exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=ROUTING_KEY,
            )


async def drain_dlq(rabbit: str, names: Names, expected: int, timeout: float = 10) -> list:
    connection = await aio_pika.connect(rabbit)
    letters = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(names.dlq)
        deadline = asyncio.get_running_loop().time() + timeout
        while len(letters) < expected and asyncio.get_running_loop().time() < deadline:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            letters.append(message)
    return letters


async def wait_for_readings(client, actor, device_id: int, count: int, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        day = await hourly(client, actor, device_id, DAY)
        seen = sum(h["readings"] for h in day["hours"])
        if seen >= count or asyncio.get_running_loop().time() > deadline:
            return day
        await asyncio.sleep(0.05)


async def _device(client, admin, owner, max_kwh=100.0) -> int:
    resp = await client.post(
        "/api/v1/devices",
        json={"description": "AMQP meter", "max_hourly_kwh": max_kwh, "owner_id": owner.id},
        headers=admin.headers,
    )
    assert resp.status == 201
    return (await resp.json())["id"]


def reading(device_id: int, minute: int, value: float, hour: int = 10) -> dict:
    return {"device_id": device_id, "ts": f"{DAY}T{hour:02d}:{minute:02d}:00Z", "value": value}


async def test_readings_are_stored_once_with_exact_totals(amqp_client, admin, alice, rabbit, names):
    device = await _device(amqp_client, admin, alice)
    singles = [json.dumps(reading(device, m, 0.01 * (m + 1))).encode() for m in range(30)]
    batch = json.dumps([reading(device, m, 0.5, hour=11) for m in range(0, 60, 2)]).encode()
    # Every single is sent twice: redelivery and resends must not count twice.
    await publish(rabbit, names, [*singles, batch, *singles])
    day = await wait_for_readings(amqp_client, alice, device, 60)
    hours = kwh_by_hour(day)
    assert hours["10:00"] == pytest.approx(sum(0.01 * (m + 1) for m in range(30)), abs=1e-9)
    assert hours["11:00"] == pytest.approx(15.0)
    assert sum(h["readings"] for h in day["hours"]) == 60
    assert await drain_dlq(rabbit, names, 0, timeout=0.5) == []


async def test_bad_readings_go_to_the_dlq_with_reasons_and_good_ones_are_stored(
    amqp_client, admin, alice, rabbit, names
):
    device = await _device(amqp_client, admin, alice, max_kwh=1)
    good = [json.dumps(reading(device, m, 0.1)).encode() for m in range(0, 20)]
    bad = [
        b"{not json",
        json.dumps(reading(999_999, 1, 0.1)).encode(),
        json.dumps({"device_id": device, "ts": f"{DAY}T10:05:00Z", "value": -1}).encode(),
        json.dumps([reading(device, 30, 0.2), {"device_id": device, "value": "x"}]).encode(),
    ]
    await publish(rabbit, names, good[:10] + bad + good[10:])
    day = await wait_for_readings(amqp_client, alice, device, 21)
    assert sum(h["readings"] for h in day["hours"]) == 21  # 20 good + the good half of the array
    letters = await drain_dlq(rabbit, names, 4)
    reasons = sorted(m.headers[REASON_HEADER] for m in letters)
    assert len(reasons) == 4
    assert any("not valid JSON" in r for r in reasons)
    assert any("unknown device 999999" in r for r in reasons)
    assert any("negative" in r for r in reasons)
    assert any("missing field ts" in r for r in reasons)
    forwarded = {m.body for m in letters}
    assert b"{not json" in forwarded  # undecodable messages are kept as they came
    # The over-limit hour raised one alert even with bad input around it.
    page = await (await amqp_client.get("/api/v1/alerts", headers=alice.headers)).json()
    assert len(page["items"]) == 1


async def test_a_database_outage_holds_readings_until_it_is_back(
    aiohttp_client, db_url, rabbit, names, admin, alice
):
    """The database refuses writes for a while: nothing is dead-lettered, nothing is lost."""
    if not db_url.startswith("sqlite"):
        pytest.skip("the outage is made with an SQLite write lock")
    config = make_config(
        db_url,
        broker={"url": rabbit, "namespace": names.namespace, "batch_wait_ms": 5},
        database={"sqlite_busy_timeout_ms": 100},
    )
    client = await aiohttp_client(create_app(config))
    device = await _device(client, admin, alice)
    path = db_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # every other writer now gets "database is locked"
    try:
        await publish(
            rabbit, names, [json.dumps(reading(device, m, 0.1)).encode() for m in range(10)]
        )
        await asyncio.sleep(1.5)  # the consumer keeps failing and backing off meanwhile
        day = await hourly(client, alice, device, DAY)  # WAL readers still read
        assert sum(h["readings"] for h in day["hours"]) == 0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    day = await wait_for_readings(client, alice, device, 10, timeout=40)
    assert sum(h["readings"] for h in day["hours"]) == 10
    assert await drain_dlq(rabbit, names, 0, timeout=0.5) == []


async def test_hostile_numbers_are_dead_lettered_without_stalling_the_loop(
    amqp_client, admin, alice, rabbit, names
):
    """A huge exponent used to freeze the process for seconds (minutes for 1e1000000)."""
    device = await _device(amqp_client, admin, alice)
    hostile = [
        f'{{"device_id": {device}, "ts": 1e300000, "value": 1}}',
        f'{{"device_id": {device}, "ts": 1e1000000, "value": 1}}',
        f'{{"device_id": {device}, "ts": 1795168800, "value": 1e1000000}}',
        f'{{"device_id": {device}, "ts": 1795168800, "value": 1{"0" * 5000}}}',
        f'{{"device_id": 1{"0" * 5000}, "ts": 1795168800, "value": 1}}',
    ]
    async with LoopProbe() as probe:
        await publish(rabbit, names, [h.encode() for h in hostile])
        await publish(rabbit, names, [json.dumps(reading(device, 1, 0.5)).encode()])
        letters = await drain_dlq(rabbit, names, len(hostile), timeout=20)
        day = await wait_for_readings(amqp_client, alice, device, 1)
    assert len(letters) == len(hostile)
    reasons = [m.headers[REASON_HEADER] for m in letters]
    assert sum("future" in r for r in reasons) == 2
    assert sum("value" in r for r in reasons) == 2
    assert sum("device_id" in r for r in reasons) == 1
    assert sum(h["readings"] for h in day["hours"]) == 1
    assert probe.longest < 0.1, f"the event loop stalled {probe.longest * 1000:.0f} ms"


async def test_one_reading_gets_one_value_whichever_way_it_comes(
    amqp_client, admin, alice, rabbit, names
):
    """0.0000025 kWh is 2 mWh (half to even) over HTTP and over AMQP: a resend through the
    other door is a duplicate, not a conflict."""
    device = await _device(amqp_client, admin, alice)
    resp = await amqp_client.post(f"/api/v1/devices/{device}/ingest-token", headers=admin.headers)
    token = (await resp.json())["token"]
    raw = f'{{"device_id": {device}, "ts": "{DAY}T10:00:00Z", "value": 0.0000025}}'.encode()
    resp = await amqp_client.post(
        "/api/v1/ingest",
        data=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert (await resp.json())["stored"] == 1
    await publish(rabbit, names, [raw, json.dumps(reading(device, 5, 0.25)).encode()])
    await wait_for_readings(amqp_client, alice, device, 2)
    assert await drain_dlq(rabbit, names, 1, timeout=1) == []  # no conflict
    resp = await amqp_client.get(
        f"/api/v1/devices/{device}/readings",
        params={"from": f"{DAY}T10:00:00Z", "to": f"{DAY}T11:00:00Z"},
        headers=alice.headers,
    )
    values = [r["value_kwh"] for r in (await resp.json())["items"]]
    assert values == [0.000002, 0.25]


async def test_whole_messages_are_refused_for_duplicate_keys_size_and_count(
    aiohttp_client, db_url, rabbit, names, admin, alice
):
    config = make_config(
        db_url,
        broker={
            "url": rabbit,
            "namespace": names.namespace,
            "batch_wait_ms": 5,
            "max_message_bytes": 200_000,
        },
    )
    client = await aiohttp_client(create_app(config))
    device = await _device(client, admin, alice)
    duplicate = f'{{"device_id": {device}, "ts": 1795168800, "value": 1, "value": 2}}'.encode()
    too_many = b"[" + b"{}," * 10_000 + b"{}]"
    too_large = json.dumps(reading(device, 7, 0.1) | {"note": "x" * 200_000}).encode()
    await publish(rabbit, names, [duplicate, too_many, too_large])
    letters = await drain_dlq(rabbit, names, 3)
    by_body = {m.body: m.headers[REASON_HEADER] for m in letters}
    assert "duplicate key 'value'" in by_body[duplicate]  # forwarded as it came
    assert "at most 10,000 readings" in by_body[too_many]
    assert "more than the 200,000 accepted" in by_body[too_large]
    day = await hourly(client, alice, device, DAY)
    assert all(h["kwh"] is None for h in day["hours"])


async def _dlq_bodies(rabbit: str, names: Names) -> list[bytes]:
    letters = await drain_dlq(rabbit, names, 10_000, timeout=0.5)
    return [m.body for m in letters]


async def test_the_dead_letter_queue_is_capped_dropping_the_oldest(
    aiohttp_client, db_url, rabbit, names, admin, alice
):
    config = make_config(
        db_url,
        broker={
            "url": rabbit,
            "namespace": names.namespace,
            "batch_wait_ms": 5,
            "dlq_max_bytes": 2048,
        },
    )
    client = await aiohttp_client(create_app(config))
    device = await _device(client, admin, alice)
    bad = [f'{{"n": {n}, "pad": "{"x" * 300}"}}'.encode() for n in range(20)]
    for body in bad:  # one at a time, so dead letters arrive in order
        await publish(rabbit, names, [body])
    await publish(rabbit, names, [json.dumps(reading(device, 1, 0.1)).encode()])
    await wait_for_readings(client, alice, device, 1)
    kept = await _dlq_bodies(rabbit, names)
    assert 0 < sum(len(b) for b in kept) <= 2048
    assert kept == bad[-len(kept) :]  # the newest are kept


async def test_an_existing_uncapped_dead_letter_queue_is_used_with_a_warning(
    aiohttp_client, db_url, rabbit, names, admin, alice, caplog
):
    """An installation whose DLQ predates the cap: RabbitMQ refuses to redeclare it with new
    arguments, so energymon keeps it as it is, says so, and still dead-letters into it."""
    connection = await aio_pika.connect(rabbit)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(names.dlq, durable=True)
    config = make_config(
        db_url, broker={"url": rabbit, "namespace": names.namespace, "batch_wait_ms": 5}
    )
    client = await aiohttp_client(create_app(config))
    assert any("dead-letter queue" in r.getMessage() for r in caplog.records)
    device = await _device(client, admin, alice)
    await publish(rabbit, names, [b"{not json", json.dumps(reading(device, 1, 0.1)).encode()])
    await wait_for_readings(client, alice, device, 1)
    assert [m.body for m in await drain_dlq(rabbit, names, 1)] == [b"{not json"]
