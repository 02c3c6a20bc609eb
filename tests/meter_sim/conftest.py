"""Fixtures for the meter emulator: RabbitMQ (skipped when unreachable, required in CI), a proxy."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator

import aio_pika
import pytest

from tests.meter_sim.amqp_support import AMQP_HOST, AMQP_PORT, Broker, TcpProxy


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
