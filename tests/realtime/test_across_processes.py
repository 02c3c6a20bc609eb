"""Events across energymon processes sharing the database and RabbitMQ.

Two apps in this test process (each with its own broker connection and events queue), and two
real `energymon serve` processes (on MariaDB, and on a shared SQLite file): a client of one
hears what the other stored.
"""

from __future__ import annotations

import asyncio
import json

import aio_pika
import pytest

from energymon.app import create_app
from energymon.models import Role
from tests.conftest import make_config
from tests.realtime.conftest import Api, make_device, this_hour

QUIET = 0.8


@pytest.fixture
async def pair(aiohttp_server, db_url, http, rabbit, names):
    """Two served apps on one database and one broker namespace."""
    config = make_config(db_url, broker={"url": rabbit, "namespace": names.namespace})
    apis = []
    for _ in range(2):
        server = await aiohttp_server(create_app(config))
        apis.append(Api(str(server.make_url("")).rstrip("/"), http))
    return apis


async def test_an_alert_stored_by_one_process_reaches_the_owner_on_another_once(
    pair, listen, admin, alice, bob
):
    a, b = pair
    meter = await make_device(a, admin, alice, max_kwh=1.0)
    on_a = await listen(a.url, alice)
    on_b = await listen(b.url, alice)
    admin_on_b = await listen(b.url, admin)
    stranger = await listen(a.url, bob)
    for listener in (on_a, on_b):
        assert await listener.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}

    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 1.5}], api=b)
    for listener in (on_a, on_b, admin_on_b):
        alert = await listener.wait_for("alert")
        assert alert["device_id"] == meter.id and alert["total_kwh"] == 1.5
    await on_a.wait_for("reading")
    await on_a.wait_for("hourly")
    await asyncio.sleep(QUIET)
    for listener in (on_a, on_b):  # each exactly once: nobody hears their own process twice
        assert [e for e, _ in listener.heard] == ["reading", "hourly", "alert"]
    assert [e for e, _ in admin_on_b.heard] == ["alert"]
    assert stranger.heard == []


async def test_an_owner_change_on_one_process_takes_the_old_owner_out_on_another(
    pair, listen, admin, alice, bob
):
    a, b = pair
    meter = await make_device(a, admin, alice, max_kwh=1.0)
    old = await listen(a.url, alice)
    assert await old.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    # With its history: the reading below is stamped before the moment of assignment.
    body = {"user_id": bob.id, "include_history": True}
    await b.ok("PUT", f"/api/v1/devices/{meter.id}/owner", admin, body)
    await old.wait_for("device_unassigned")
    new = await listen(a.url, bob)
    assert await new.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 2}], api=b)
    await new.wait_for("alert")
    await new.wait_for("reading")
    await asyncio.sleep(QUIET)
    assert [e for e, _ in old.heard] == ["device_unassigned"]

    await b.ok("PATCH", f"/api/v1/users/{bob.id}", admin, {"disabled": True})
    await new.wait_for("session_revoked")
    await asyncio.wait_for(new.disconnected.wait(), 5)


async def test_other_programs_can_bind_to_the_events_exchange(pair, admin, alice, rabbit, names):
    a, b = pair
    meter = await make_device(a, admin, alice, max_kwh=1.0)
    connection = await aio_pika.connect(rabbit)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.events)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, f"device.{meter.id}.alert")
        await queue.bind(exchange, "devices.reading")
        await meter.send(
            [
                {"device_id": meter.id, "ts": this_hour(1), "value": 0.5},
                {"device_id": meter.id, "ts": this_hour(2), "value": 0.7},
            ],
            api=b,
        )
        got = {}
        async with queue.iterator(timeout=10) as messages:
            async for message in messages:
                got[message.routing_key] = json.loads(message.body)
                await message.ack()
                if len(got) == 2:
                    break
    readings = got["devices.reading"]
    assert [r["payload"]["value_kwh"] for r in readings] == [0.5, 0.7]  # one message, the batch
    (alert,) = got[f"device.{meter.id}.alert"]
    assert alert["kind"] == "alert_raised" and alert["owner_id"] == alice.id
    assert alert["payload"]["total_kwh"] == pytest.approx(1.2)


async def test_two_serve_processes_a_client_of_a_hears_what_b_consumed(
    servers, http, listen, make_actor, rabbit, names
):
    admin = await make_actor(Role.ADMIN)
    alice = await make_actor(Role.USER)
    a, b = servers(), servers()
    await asyncio.gather(a.start(), b.start())
    api_a, api_b = Api(a.url, http), Api(b.url, http)
    meter = await make_device(api_a, admin, alice, max_kwh=1.0)
    on_a = await listen(a.url, alice)
    assert await on_a.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}

    # Consumed by B: over HTTP to B, then through the readings queue (whichever consumes it).
    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 1.5}], api=api_b)
    alert = await on_a.wait_for("alert", timeout=15)
    assert alert["device_id"] == meter.id
    connection = await aio_pika.connect(rabbit)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(names.exchange)
        body = json.dumps({"device_id": meter.id, "ts": this_hour(2), "value": 0.25}).encode()
        await exchange.publish(aio_pika.Message(body), routing_key="readings")
    await on_a.wait_for("reading", lambda r: r["value_kwh"] == 0.25, timeout=15)
    await asyncio.sleep(QUIET)
    assert len(on_a.events("alert")) == 1
