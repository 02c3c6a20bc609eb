"""Fixtures for the meter emulator: RabbitMQ (skipped when unreachable, required in CI), a proxy."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import aio_pika
import pytest

from tests.conftest import IN_CI, run_async
from tests.meter_sim.amqp_support import AMQP_HOST, AMQP_PORT, AMQP_URL, Broker, TcpProxy, redacted


async def _handshake() -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    await connection.close()


def _rabbitmq_problem() -> str | None:
    """None when the broker completes an AMQP handshake: an open port alone is not enough."""
    try:
        run_async(_handshake())
    except Exception as exc:
        detail = str(exc) or "no AMQP handshake within 5 s"
        return f"RabbitMQ at {redacted(AMQP_URL)} does not answer ({type(exc).__name__}: {detail})"
    return None


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker URL; skips the test when RabbitMQ is down, fails instead under CI."""
    problem = _rabbitmq_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}: CI must run the AMQP tests")
        pytest.skip(problem)
    return AMQP_URL


@pytest.fixture
async def broker(amqp_url: str) -> AsyncIterator[Broker]:
    """A uniquely named durable exchange, deleted afterwards."""
    connection = await aio_pika.connect(amqp_url, timeout=15)
    channel = await connection.channel()
    name = f"energymon.test.meter.{secrets.token_hex(4)}"
    try:
        yield Broker(channel, name)
    finally:
        with contextlib.suppress(Exception):
            await channel.exchange_delete(name)
        await connection.close()


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A proxy to RabbitMQ; its port is `proxy.listen_port`."""
    tcp = TcpProxy(AMQP_HOST, AMQP_PORT)
    await tcp.start()
    yield tcp
    await tcp.close()
