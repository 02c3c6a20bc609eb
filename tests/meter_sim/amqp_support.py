"""Helpers for the AMQP tests: the test exchange and queue, reading it, a breakable proxy."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from yarl import URL

from tests.conftest import AMQP_URL

AMQP_HOST = URL(AMQP_URL).host or "127.0.0.1"
AMQP_PORT = URL(AMQP_URL).port or 5672


def broker_url(port: int) -> str:
    """The test broker's URL with another port (to go through a proxy)."""
    return str(URL(AMQP_URL).with_host("127.0.0.1").with_port(port))


@dataclass
class Broker:
    """A test's own exchange on the real broker, and a channel to bind and read queues."""

    channel: AbstractChannel
    exchange: str
    routing_key: str = "readings"

    async def bind_queue(self) -> AbstractQueue:
        """A temporary queue bound to the test exchange with the routing key."""
        exchange = await self.channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        queue = await self.channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange, self.routing_key)
        return queue


async def read_all(queue: AbstractQueue) -> list[AbstractIncomingMessage]:
    """Every message now in the queue (the publisher has had them all confirmed)."""
    messages = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        messages.append(message)
    return messages


def bodies(messages: list[AbstractIncomingMessage]) -> Counter[bytes]:
    """How often each body arrived."""
    return Counter(m.body for m in messages)


class TcpProxy:
    """A TCP proxy in front of the broker that can cut every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.refusing = False
        self.accepted = 0
        self.listen_port = 0
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        link = (writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )
        finally:
            self._links.discard(link)
            for w in link:
                w.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    def cut(self) -> None:
        """Drop every connection at once, as a network failure would."""
        for link in list(self._links):
            for w in link:
                w.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


async def eventually(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll until the condition holds; fail after `seconds`."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"condition not met within {seconds} s")


def redacted(url: str) -> str:
    """A URL without its password, for skip reasons."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url
