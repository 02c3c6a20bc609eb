"""The in-process bus: readings published inside this process, batched like the AMQP consumer.

Used when no broker is configured (the embedded default), for instance by the demo meters.
Refused readings are logged and kept in a bounded list instead of a dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from energymon.ingest.batches import DeadLetter, Inbox, process
from energymon.services.ingest import IngestService

_LOGGER = logging.getLogger(__name__)
KEEP_DEAD_LETTERS = 1000


class LocalBus:
    """Message bodies in, stored readings out, in this process."""

    def __init__(
        self,
        ingest: IngestService,
        *,
        batch_messages: int,
        batch_wait_ms: int,
        max_message_bytes: int,
    ) -> None:
        self._ingest = ingest
        self._max_message_bytes = max_message_bytes
        self._inbox: Inbox[bytes] = Inbox()
        self._batch_messages = batch_messages
        self._batch_wait_ms = batch_wait_ms
        self._idle = asyncio.Event()
        self._idle.set()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=KEEP_DEAD_LETTERS)

    def publish(self, body: bytes) -> None:
        self._idle.clear()
        self._inbox.put(body)

    async def drained(self) -> None:
        """Wait until everything published so far is stored (or refused)."""
        await self._idle.wait()

    async def run(self) -> None:
        while True:
            bodies = await self._inbox.take(self._batch_messages, self._batch_wait_ms)
            try:
                letters = await process(
                    self._ingest, bodies, max_message_bytes=self._max_message_bytes
                )
            except Exception:
                _LOGGER.exception("in-process batch of %d messages failed", len(bodies))
                letters = []
            for letter in letters:
                _LOGGER.warning("refused reading: %s", "; ".join(letter.reasons)[:1000])
                self.dead_letters.append(letter)
            if not self._inbox:
                self._idle.set()


@contextlib.asynccontextmanager
async def running(bus: LocalBus) -> AsyncIterator[LocalBus]:
    task = asyncio.create_task(bus.run(), name="energymon-local-bus")
    try:
        yield bus
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
