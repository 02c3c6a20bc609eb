"""Exchange and queue names under one namespace, and the functions that declare them.

- exchange `<ns>.readings` (direct, durable), routing key `readings` (ns: broker.namespace);
- queue `<ns>.readings` (quorum, durable) with a delivery limit, dead-lettering to
- exchange `<ns>.readings.dlx` -> queue `<ns>.readings.dlq`, capped at `broker.dlq_max_bytes`
  (RabbitMQ drops the oldest dead letters beyond it);
- exchange `<ns>.events` (topic, durable): every process's events (see broker/hub.py);
- exchange `<ns>.live` (topic, durable): the public live stream for other programs (see
  broker/live.py and docs/live/).
Every declaration is idempotent: each process declares what it uses when it starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelPreconditionFailed

from energymon.config import BrokerConfig

_LOGGER = logging.getLogger(__name__)

ROUTING_KEY = "readings"
DLQ_KEY = "dlq"
DLQ_MAX_BYTES = BrokerConfig().dlq_max_bytes


@dataclass(frozen=True)
class Names:
    """Exchange and queue names under one namespace (default `energymon`)."""

    namespace: str = "energymon"

    @property
    def exchange(self) -> str:
        """Readings in: meters (and meter_sim) publish here."""
        return f"{self.namespace}.readings"

    @property
    def queue(self) -> str:
        return f"{self.namespace}.readings"

    @property
    def dlx(self) -> str:
        return f"{self.namespace}.readings.dlx"

    @property
    def dlq(self) -> str:
        return f"{self.namespace}.readings.dlq"

    @property
    def events(self) -> str:
        """Events out: every energymon process, and whoever else binds a queue."""
        return f"{self.namespace}.events"

    @property
    def live(self) -> str:
        """The live stream for other programs: one versioned JSON message per event."""
        return f"{self.namespace}.live"


async def declare_readings(
    channel: AbstractChannel,
    names: Names,
    delivery_limit: int,
    dlq_max_bytes: int = DLQ_MAX_BYTES,
) -> tuple[AbstractExchange, AbstractQueue]:
    """Exchanges and queues for readings; returns the readings exchange and queue."""
    exchange = await channel.declare_exchange(
        names.exchange, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dlx = await channel.declare_exchange(names.dlx, aio_pika.ExchangeType.DIRECT, durable=True)
    dlq = await _declare_dlq(channel, names, dlq_max_bytes)
    await dlq.bind(dlx, DLQ_KEY)
    queue = await channel.declare_queue(
        names.queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": names.dlx,
            "x-dead-letter-routing-key": DLQ_KEY,
        },
    )
    await queue.bind(exchange, ROUTING_KEY)
    return exchange, queue


async def _declare_dlq(channel: AbstractChannel, names: Names, max_bytes: int) -> AbstractQueue:
    try:
        return await channel.declare_queue(
            names.dlq, durable=True, arguments={"x-max-length-bytes": max_bytes}
        )
    except ChannelPreconditionFailed as exc:
        # The queue exists with other arguments (an installation older than the cap, or
        # another cap), and RabbitMQ never changes a queue's arguments. Keep using it as it
        # is rather than refuse to start; the README tells how to cap it with a policy.
        _LOGGER.warning(
            "dead-letter queue %s was declared with other arguments, so it is not capped at "
            "broker.dlq_max_bytes (%d bytes); cap it with a policy (README, Dead letters): %s",
            names.dlq,
            max_bytes,
            exc,
        )
        await channel.reopen()
        return await channel.declare_queue(names.dlq, passive=True)


async def declare_events(channel: AbstractChannel, names: Names) -> AbstractExchange:
    """The durable topic exchange every process publishes its events to."""
    return await channel.declare_exchange(names.events, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_live(channel: AbstractChannel, names: Names) -> AbstractExchange:
    """The durable topic exchange the live stream is published to."""
    return await channel.declare_exchange(names.live, aio_pika.ExchangeType.TOPIC, durable=True)


async def delete_topology(channel: AbstractChannel, names: Names) -> None:
    """Remove the queues and exchanges of a namespace (tests, benchmarks, decommissioning)."""
    for queue in (names.queue, names.dlq):
        await channel.queue_delete(queue)
    for exchange in (names.exchange, names.dlx, names.events, names.live):
        await channel.exchange_delete(exchange)
