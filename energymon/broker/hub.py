"""The hub across processes: local delivery at once, everyone else through RabbitMQ.

`BrokerHub` carries every event to the other energymon processes through the topic exchange
`<namespace>.events` (broker/topology.py). Each process delivers its own events locally at
once and binds an exclusive queue for everyone else's, skipping the messages it sent itself,
so nothing is delivered twice. Events published in one go (an ingest batch announces
hundreds) are sent after the publisher returns, as one AMQP message per routing key:
readings and hourly totals of a whole batch travel together. Bodies are written and read by
broker/codec.py.

A process binds its queue to the bulk routing keys (readings, hour totals) only while its
own subscribers want them. Bulk messages are published `mandatory`: when the broker returns
one (no queue bound, here or in any other program), the kind pauses for `UNROUTED_PAUSE_S`
before the next try, and the ingest path builds none of them meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import defaultdict

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage

from energymon.broker import codec
from energymon.broker.connect import connect
from energymon.broker.outbox import Outbox
from energymon.broker.topology import Names, declare_events
from energymon.config import BrokerConfig
from energymon.events import BULK_KINDS, Event, EventHub

_LOGGER = logging.getLogger(__name__)

# Unsent events kept while the broker is unreachable; beyond it the least important go.
MAX_OUTBOX = 100_000
# After the broker returned a bulk message (nobody bound), skip that kind for this long.
UNROUTED_PAUSE_S = 1.0
# How often the bindings for bulk kinds follow this process's own interest.
INTEREST_REFRESH_S = 2.0
_BULK_ROUTING_KEYS = frozenset(kind.ROUTING_KEY for kind in BULK_KINDS)
# Everything but the bulk kinds, which are bound only while followed here.
_ALWAYS_BOUND = ("device.#", "user.#", "chat.#", "other.#")


class BrokerHub(EventHub):
    """The hub across processes: local delivery at once, everyone else through RabbitMQ."""

    def __init__(self, config: BrokerConfig, *, max_outbox: int = MAX_OUTBOX) -> None:
        super().__init__()
        self._config = config
        self.names = Names(config.namespace)
        # Tells this process's own messages apart when they come back from the exchange.
        self.origin = f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self.outbox = Outbox(max_outbox)
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Bulk routing keys this process's queue is bound to, and when a returned (unrouted)
        # bulk message says nobody else listens: skip that kind until then.
        self._bound: set[str] = set()
        self._unrouted_until: dict[str, float] = {}
        self._binding = asyncio.Lock()

    @property
    def listening(self) -> bool:
        # Other processes and programs may listen on the exchange.
        return self._exchange is not None or bool(self._subscribers)

    def wants(self, kind: type[Event]) -> bool:
        if super().wants(kind):
            return True
        if self._exchange is None:
            return False
        if not kind.bulk:
            return True
        return time.monotonic() >= self._unrouted_until.get(kind.ROUTING_KEY, 0.0)

    def publish(self, event: Event) -> None:
        self._deliver(event)
        if self._exchange is None:
            return
        if event.bulk and time.monotonic() < self._unrouted_until.get(event.ROUTING_KEY, 0.0):
            # Built for a subscriber here (the live exchange); no other process follows it.
            return
        self.outbox.put(event)
        self._wakeup.set()

    async def start(self) -> None:
        self._connection = await connect(self._config)
        try:
            # Confirms: the broker's answer tells a bulk message nobody was bound to.
            channel = await self._connection.channel(publisher_confirms=True)
            exchange = await declare_events(channel, self.names)
            queue = await channel.declare_queue(
                f"{exchange.name}.{self.origin}", exclusive=True, auto_delete=True
            )
            for pattern in _ALWAYS_BOUND:
                await queue.bind(exchange, pattern)
            await queue.consume(self._received, no_ack=True)
        except BaseException:
            await self._connection.close()
            self._connection = None
            raise
        self._exchange, self._queue = exchange, queue
        await self.refresh_interest()
        self._tasks = [
            asyncio.create_task(
                self.outbox.send_loop(self._wakeup, self._flush, "events to the broker"),
                name="energymon-events-sender",
            ),
            asyncio.create_task(self._interest_loop(), name="energymon-events-interest"),
        ]
        _LOGGER.info("events shared through exchange %s", exchange.name)

    async def refresh_interest(self) -> None:
        """Bind the bulk routing keys this process's subscribers want, unbind the others."""
        if self._queue is None or self._exchange is None:
            return
        async with self._binding:
            for kind in BULK_KINDS:
                key, wanted = kind.ROUTING_KEY, self.wants_from_others(kind)
                if wanted and key not in self._bound:
                    await self._queue.bind(self._exchange, key)
                    self._bound.add(key)
                elif not wanted and key in self._bound:
                    await self._queue.unbind(self._exchange, key)
                    self._bound.discard(key)

    async def _interest_loop(self) -> None:
        while True:
            await asyncio.sleep(INTEREST_REFRESH_S)
            try:
                await self.refresh_interest()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.warning("could not update the events queue's bindings", exc_info=True)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), 2)
        self._tasks = []
        self._exchange = self._queue = None
        self.outbox.report()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _flush(self) -> None:
        """Everything published since the last flush, one message per routing key."""
        events = self.outbox.take()
        if not events or self._exchange is None:
            return
        groups: defaultdict[str, list[Event]] = defaultdict(list)
        for event in events:
            groups[event.routing_key()].append(event)
        exchange = self._exchange
        results = await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        codec.encode(group),
                        content_type="application/json",
                        app_id=self.origin,
                    ),
                    routing_key=key,
                    # Bulk messages nobody is bound to come back: their kind pauses a while.
                    mandatory=key in _BULK_ROUTING_KEYS,
                )
                for key, group in groups.items()
            ),
            return_exceptions=True,
        )
        for key, result in zip(groups, results, strict=True):
            if isinstance(result, DeliveredMessage):  # returned: no queue for this key
                self._unrouted_until[key] = time.monotonic() + UNROUTED_PAUSE_S
            elif isinstance(result, BaseException):
                _LOGGER.warning("events for %s not published: %r", key, result)

    async def _received(self, message: AbstractIncomingMessage) -> None:
        if message.app_id == self.origin:
            return
        for event in codec.decode(message.body, message.routing_key or ""):
            self._deliver(event, remote=True)


def make_hub(config: BrokerConfig) -> EventHub:
    """The hub for this configuration: across processes when a broker is configured."""
    return BrokerHub(config) if config.url else EventHub()
