"""Whole processes: a consumer killed mid-stream, and two consumers on one queue."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict

import aio_pika
import sqlalchemy as sa

from energymon.broker.topology import ROUTING_KEY, Names
from energymon.storage import devices as devices_store
from energymon.storage.schema import hourly, readings

DEVICES = 20
HOUR0 = 1_795_132_800  # 2026-11-19T00:00:00Z


async def _make_devices(db) -> list[int]:
    ids = []
    async with db.write() as conn:
        for n in range(DEVICES):
            device = await devices_store.insert(
                conn, description=f"meter {n}", address="", max_hourly_wh=10**9, owner_id=None
            )
            ids.append(device.id)
    return ids


def _plan(ids: list[int], count: int, seed: int) -> list[dict]:
    """`count` distinct readings spread over the devices and six hours, in random order."""
    rng = random.Random(seed)
    per_device = count // len(ids)
    out = []
    for device in ids:
        for ts in rng.sample(range(HOUR0, HOUR0 + 6 * 3600), per_device):
            out.append({"device_id": device, "ts": ts, "value": rng.randrange(1, 5000) / 1000})
    rng.shuffle(out)
    return out


def _expected(plan: list[dict]) -> dict[tuple[int, int], tuple[int, int]]:
    """Independently computed: first value per (device, ts) wins; totals per device-hour."""
    first: dict[tuple[int, int], int] = {}
    for r in plan:
        first.setdefault((r["device_id"], r["ts"]), round(r["value"] * 1_000_000))
    totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for (device, ts), mwh in first.items():
        cell = totals[(device, ts - ts % 3600)]
        cell[0] += mwh
        cell[1] += 1
    return {k: (v[0], v[1]) for k, v in totals.items()}


async def _stored(db) -> tuple[int, dict[tuple[int, int], tuple[int, int]]]:
    async with db.read() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(readings))).scalar_one()
        rows = await conn.execute(sa.select(hourly))
        return count, {(r.device_id, r.hour_ts): (int(r.total_mwh), r.readings) for r in rows}


async def _sums_of_readings(db) -> dict[tuple[int, int], tuple[int, int]]:
    """The hourly totals recomputed from the stored readings themselves."""
    hour = readings.c.ts - readings.c.ts % 3600
    query = sa.select(
        readings.c.device_id,
        hour.label("h"),
        sa.func.sum(readings.c.consumption_mwh),
        sa.func.count(),
    ).group_by(readings.c.device_id, hour)
    async with db.read() as conn:
        return {(r[0], int(r[1])): (int(r[2]), int(r[3])) for r in await conn.execute(query)}


async def _queue_depth(rabbit_url: str, names: Names) -> int:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(names.queue, passive=True)
        return queue.declaration_result.message_count or 0


async def _publish(rabbit_url: str, names: Names, plan: list[dict], per_message: int) -> None:
    """Publish with confirms; returns once every message is confirmed."""
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.exchange)
        pending = []
        for start in range(0, len(plan), per_message):
            chunk = plan[start : start + per_message]
            body = json.dumps(chunk if per_message > 1 else chunk[0]).encode()
            pending.append(
                exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=ROUTING_KEY,
                )
            )
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)


async def _wait_drained(db, rabbit_url, names, expected_rows: int, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        count, _ = await _stored(db)
        if count >= expected_rows and await _queue_depth(rabbit_url, names) == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"not drained: {await _stored(db)} rows, depth {await _queue_depth(rabbit_url, names)}"
    )


async def test_a_killed_consumer_loses_nothing_and_counts_nothing_twice(db, servers, rabbit, names):
    ids = await _make_devices(db)
    plan = _plan(ids, 6000, seed=11)
    expected = _expected(plan)
    server = servers()
    await server.start()
    publishing = asyncio.create_task(_publish(rabbit, names, plan, per_message=1))
    # Kill the consumer while the stream is flowing, part-way through.
    while (await _stored(db))[0] < 800:
        await asyncio.sleep(0.02)
    server.kill()
    await publishing  # every message was confirmed by the broker
    restarted = servers()
    await restarted.start()
    await _wait_drained(db, rabbit, names, sum(c for _, c in expected.values()))
    count, totals = await _stored(db)
    assert count == sum(c for _, c in expected.values())
    assert totals == expected
    assert totals == await _sums_of_readings(db)


async def test_two_consumers_on_one_queue_keep_totals_exact(db, servers, rabbit, names):
    ids = await _make_devices(db)
    plan = _plan(ids, 4000, seed=5)
    # The same device-hours arrive twice, in different orders, so both processes write them.
    shuffled = plan[:]
    random.Random(1).shuffle(shuffled)
    expected = _expected(plan + shuffled)
    a, b = servers(), servers()
    await asyncio.gather(a.start(), b.start())
    await asyncio.gather(
        _publish(rabbit, names, plan, per_message=10),
        _publish(rabbit, names, shuffled, per_message=1),
    )
    await _wait_drained(db, rabbit, names, sum(c for _, c in expected.values()))
    count, totals = await _stored(db)
    assert count == sum(c for _, c in expected.values())
    assert totals == expected
    assert totals == await _sums_of_readings(db)
