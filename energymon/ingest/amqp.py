"""The RabbitMQ consumer: batches of readings in, one transaction per batch, then acks.

The readings exchange, queue and dead letters are declared at start (broker/topology.py).
Refused readings are published to the DLQ with the reasons in the `x-energymon-reason`
header (confirmed) before their message is acked. A message that keeps crashing the
consumer is dead-lettered by the broker once it reaches the delivery limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
    HeadersType,
)
from aio_pika.exceptions import AMQPError

from energymon.broker.connect import connect
from energymon.broker.topology import DLQ_KEY, Names, declare_readings
from energymon.config import BrokerConfig
from energymon.ingest.batches import DeadLetter, Inbox, process
from energymon.services.ingest import IngestService

_LOGGER = logging.getLogger(__name__)

REASON_HEADER = "x-energymon-reason"


class AmqpIngest:
    """Consumes `energymon.readings` in batches and feeds the ingest service."""

    def __init__(
        self, config: BrokerConfig, ingest: IngestService, connection: AbstractRobustConnection
    ) -> None:
        self._config = config
        self._ingest = ingest
        self._connection = connection
        self._inbox: Inbox[AbstractIncomingMessage] = Inbox()
        self._stopping = False
        self._dlx: AbstractExchange | None = None
        self.names = Names(config.namespace)

    async def start(self) -> None:
        """Declare the topology and start receiving."""
        channel = await self._connection.channel(publisher_confirms=False)
        _, queue = await declare_readings(
            channel, self.names, self._config.delivery_limit, self._config.dlq_max_bytes
        )
        # After the topology: declaring may reopen the channel, which forgets its QoS.
        await channel.set_qos(prefetch_count=self._config.prefetch)
        confirm_channel = await self._connection.channel(publisher_confirms=True)
        self._dlx = await confirm_channel.get_exchange(self.names.dlx)
        await queue.consume(self._inbox.receive, no_ack=False)
        _LOGGER.info("consuming readings from %s", self.names.queue)

    async def run(self) -> None:
        """Process batches until cancelled, `broker.transactions` of them at once.

        While one batch waits for its commit the next one already runs its queries; acks
        still go out in delivery order, since `ack(multiple=True)` covers everything before.
        """
        slots = asyncio.Semaphore(self._config.transactions)
        previous: asyncio.Future[None] | None = None
        running: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            running.discard(task)
            slots.release()

        try:
            while True:
                batch = await self._inbox.take(
                    self._config.batch_messages, self._config.batch_wait_ms
                )
                await slots.acquire()
                settled = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(self._handle(batch, previous, settled))
                running.add(task)
                task.add_done_callback(finished)
                previous = settled
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def stop(self) -> None:
        self._stopping = True

    async def _handle(
        self,
        batch: list[AbstractIncomingMessage],
        previous: asyncio.Future[None] | None,
        settled: asyncio.Future[None],
    ) -> None:
        try:
            ack = True
            try:
                letters = await process(
                    self._ingest,
                    [m.body for m in batch],
                    max_message_bytes=self._config.max_message_bytes,
                    stopping=lambda: self._stopping,
                )
                for letter in letters:
                    await self._dead_letter(batch[letter.message_index], letter)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug, not bad input: give the messages back. The delivery limit stops a
                # message that crashes every time from looping for ever.
                _LOGGER.exception("ingest batch of %d messages failed; requeueing", len(batch))
                ack = False
            if previous is not None:
                await asyncio.shield(previous)
            await self._settle(batch, ack=ack)
        finally:
            if not settled.done():
                settled.set_result(None)

    async def _dead_letter(self, message: AbstractIncomingMessage, letter: DeadLetter) -> None:
        assert self._dlx is not None
        reason = "; ".join(letter.reasons)[:1000]
        headers: HeadersType = {REASON_HEADER: reason}
        if message.routing_key:
            headers["x-energymon-routing-key"] = message.routing_key
        await self._dlx.publish(
            aio_pika.Message(
                letter.body,
                headers=headers,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=DLQ_KEY,
        )
        _LOGGER.info("dead-lettered part of a message: %s", reason)

    @staticmethod
    async def _settle(batch: list[AbstractIncomingMessage], *, ack: bool) -> None:
        """Ack (or requeue) a batch with one frame per channel."""
        last: dict[int, AbstractIncomingMessage] = {}
        for message in batch:
            last[id(message.channel)] = message
        for message in last.values():
            try:
                if ack:
                    await message.ack(multiple=True)
                else:
                    await message.nack(multiple=True, requeue=True)
            except (AMQPError, ConnectionError, RuntimeError) as exc:
                # The channel was lost: the broker redelivers these, and storage dedupes.
                _LOGGER.warning("could not settle messages on a closed channel: %s", exc)


@contextlib.asynccontextmanager
async def consuming(config: BrokerConfig, ingest: IngestService) -> AsyncIterator[AmqpIngest]:
    """Run the consumer in the background for the life of the block."""
    connection = await connect(config)
    consumer = AmqpIngest(config, ingest, connection)
    try:
        await consumer.start()
    except BaseException:
        await connection.close()
        raise
    task = asyncio.create_task(consumer.run(), name="energymon-amqp-ingest")
    try:
        yield consumer
    finally:
        consumer.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()
