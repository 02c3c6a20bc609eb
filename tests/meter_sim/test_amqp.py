"""Publishing to the real RabbitMQ: exact JSON, confirms, resending after a lost connection."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import sys

import aio_pika
import pytest

from meter_sim.amqp import AmqpOptions, AmqpSink
from meter_sim.meters import MeterKind
from meter_sim.runner import simulate
from meter_sim.scenario import Scenario
from meter_sim.schedule import parse_time
from meter_sim.stats import Stats
from tests.meter_sim.amqp_support import (
    AMQP_URL,
    Broker,
    TcpProxy,
    bodies,
    broker_url,
    eventually,
    read_all,
)

NOV_1 = parse_time("2026-11-01T00:00:00Z")


async def publish(scenario: Scenario, options: AmqpOptions) -> Stats:
    stats = Stats()
    async with AmqpSink(options, stats) as sink:
        await simulate(scenario, sink, stats, asyncio.Event())
    return stats


def expected(scenario: Scenario) -> list[bytes]:
    return [m.body for m in scenario.messages()]


async def test_every_reading_arrives_once_with_the_exact_json(broker: Broker):
    queue = await broker.bind_queue()
    scenario = Scenario(devices=(1, 2, 3, 17), seed=8, start=NOV_1, count=100)
    stats = await publish(scenario, AmqpOptions(AMQP_URL, exchange=broker.exchange, window=50))

    messages = await read_all(queue)
    assert [m.body for m in messages] == expected(scenario)  # one channel: order is kept
    assert stats.sent == stats.confirmed == 400
    assert stats.failed == stats.resent == 0
    first = messages[0]
    assert first.content_type == "application/json"
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.routing_key == "readings"
    assert first.exchange == broker.exchange
    reading = json.loads(first.body)
    assert reading == {"device_id": 1, "ts": "2026-11-01T00:00:00Z", "value": reading["value"]}
    assert isinstance(reading["value"], float)


async def test_batches_and_cumulative_meters(broker: Broker):
    queue = await broker.bind_queue()
    scenario = Scenario(
        devices=(5, 6), seed=2, start=NOV_1, count=25, batch=10, kind=MeterKind.CUMULATIVE
    )
    stats = await publish(scenario, AmqpOptions(AMQP_URL, exchange=broker.exchange))
    got = [m.body for m in await read_all(queue)]
    assert got == expected(scenario)
    assert [len(json.loads(b)) for b in got] == [10, 10, 10, 10, 5, 5]
    assert stats.confirmed == 50
    assert stats.messages == 6


async def test_the_exchange_is_durable_direct_as_the_server_declares_it(broker: Broker):
    await broker.bind_queue()
    await publish(
        Scenario(devices=(1,), seed=1, start=NOV_1, count=1),
        AmqpOptions(AMQP_URL, exchange=broker.exchange),
    )
    # A passive declare with other arguments would fail; these match.
    exchange = await broker.channel.declare_exchange(
        broker.exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    assert exchange.name == broker.exchange


async def test_unroutable_readings_wait_for_the_servers_queue(broker: Broker):
    """Published before any queue is bound: returned, kept and resent until a queue exists."""
    scenario = Scenario(devices=(1, 2), seed=4, start=NOV_1, count=20)
    stats = Stats()
    async with AmqpSink(AmqpOptions(AMQP_URL, exchange=broker.exchange), stats) as sink:
        run = asyncio.create_task(simulate(scenario, sink, stats, asyncio.Event()))
        await eventually(lambda: stats.resent > 0, seconds=10)
        assert stats.confirmed == 0
        queue = await broker.bind_queue()
        async with asyncio.timeout(30):
            await run
    assert bodies(await read_all(queue)) == {body: 1 for body in expected(scenario)}
    assert stats.confirmed == 40
    assert stats.failed == 0


async def _run_with_outage(broker: Broker, url: str, name: str, break_connection) -> Stats:
    """Publish 6,000 readings over about four seconds and break the connection midway."""
    queue = await broker.bind_queue()
    scenario = Scenario(devices=tuple(range(1, 21)), seed=6, start=NOV_1, count=300, speed=45_000)
    options = AmqpOptions(
        url,
        exchange=broker.exchange,
        reconnect_interval=0.3,
        connection_name=name,
    )
    stats = Stats()
    async with AmqpSink(options, stats) as sink:
        run = asyncio.create_task(simulate(scenario, sink, stats, asyncio.Event()))
        await eventually(lambda: stats.confirmed >= 1000)
        assert not run.done(), "the run ended before the connection could be broken"
        await break_connection()
        async with asyncio.timeout(60):
            await run

    arrived = bodies(await read_all(queue))
    want = set(expected(scenario))
    assert set(arrived) == want  # every reading at least once, and nothing else
    assert stats.confirmed == stats.sent == 6000
    assert stats.failed == 0
    assert stats.reconnects >= 1
    return stats


async def test_resends_unconfirmed_readings_after_the_network_drops(
    broker: Broker, proxy: TcpProxy
):
    async def cut_and_refuse_for_a_second() -> None:
        proxy.refusing = True
        proxy.cut()
        await asyncio.sleep(1.0)
        proxy.refusing = False

    stats = await _run_with_outage(
        broker, broker_url(proxy.listen_port), "energymon-meter-test", cut_and_refuse_for_a_second
    )
    assert proxy.accepted >= 2
    # The cut lands mid-stream, with publishes in flight that must go out again.
    assert stats.resent > 0


async def test_resends_after_the_broker_closes_the_connection(broker: Broker):
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        pytest.skip("rabbitmqctl is not installed here (the proxy test covers reconnects)")
    probe = await asyncio.create_subprocess_exec(
        rabbitmqctl,
        "list_connections",
        "-q",
        "name",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    if await probe.wait() != 0:
        pytest.skip("rabbitmqctl cannot reach the broker node (not the broker's host or user)")
    name = f"energymon-meter-test-{secrets.token_hex(4)}"

    async def close_our_connection_only() -> None:
        lister = await asyncio.create_subprocess_exec(
            rabbitmqctl,
            "list_connections",
            "-q",
            "pid",
            "client_properties",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await lister.communicate()
        pids = [line.split("\t")[0] for line in out.decode().splitlines() if name in line]
        assert len(pids) == 1, out
        closer = await asyncio.create_subprocess_exec(
            rabbitmqctl, "close_connection", pids[0], "energymon meter_sim test"
        )
        assert await closer.wait() == 0

    # rabbitmqctl takes about a second to act, so the close may fall between two publishes
    # with nothing in flight: what must hold is that nothing is lost and the sink reconnects.
    await _run_with_outage(broker, AMQP_URL, name, close_our_connection_only)


async def test_the_command_publishes_to_the_broker(broker: Broker):
    queue = await broker.bind_queue()
    args = [
        "--devices",
        "1-3",
        "--amqp",
        AMQP_URL,
        "--exchange",
        broker.exchange,
        "--seed",
        "12",
        "--start",
        "2026-11-01T00:00:00Z",
        "--count",
        "10",
        "--speed",
        "0",
        "--batch",
        "3",
    ]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "meter_sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("ENERGYMON_METER_")},
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr
    assert b"30 readings in 12 messages" in stderr
    assert b"30 confirmed, 0 failed" in stderr
    scenario = Scenario(devices=(1, 2, 3), seed=12, start=NOV_1, count=10, speed=0, batch=3)
    assert [m.body for m in await read_all(queue)] == expected(scenario)
