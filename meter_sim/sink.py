"""What a transport offers the runner, a bounded window of in-flight sends, and --print."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, BinaryIO, Protocol, Self

from meter_sim.errors import TransportError
from meter_sim.readings import Message
from meter_sim.stats import Stats

_LOGGER = logging.getLogger(__name__)


class Sink(Protocol):
    """A transport: accepts messages (waiting while its window is full) and settles them."""

    destination: str

    async def __aenter__(self) -> Self:
        """Connect; raise TransportError when that is impossible."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop whatever is still in flight and disconnect."""
        ...

    async def send(self, message: Message) -> None:
        """Take one message; return once it is in flight."""
        ...

    async def drain(self) -> None:
        """Wait until every message taken is confirmed or given up."""
        ...


class Window:
    """At most `size` sends in flight; `submit` waits for a free slot."""

    def __init__(self, size: int) -> None:
        """A window of `size` slots."""
        self._slots = asyncio.Semaphore(size)
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Sends in flight."""
        return len(self._tasks)

    async def submit(self, send: Coroutine[Any, Any, None]) -> None:
        """Start a send once a slot is free."""
        try:
            await self._slots.acquire()
        except BaseException:
            send.close()
            raise
        task = asyncio.create_task(send)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("a send failed unexpectedly", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for every send in flight."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every send in flight and wait for them to end."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class WindowedSink:
    """A transport that sends in the background, with at most `window` messages in flight.

    Subclasses connect in `__aenter__`, deliver one message in `_deliver` (retrying as their
    protocol allows) and disconnect in `_close`.
    """

    destination: str

    def __init__(self, stats: Stats, window: int) -> None:
        """Count into `stats`; allow `window` sends in flight."""
        self.stats = stats
        self._window = Window(window)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Cancel sends still in flight (only after an abort) and disconnect."""
        await self._window.cancel()
        await self._close()

    async def send(self, message: Message) -> None:
        """Deliver in the background once the window has room."""
        self.stats.record_sent(message.size)
        await self._window.submit(self._deliver(message))

    async def drain(self) -> None:
        """Wait until every message is confirmed or given up."""
        await self._window.drain()

    async def _deliver(self, message: Message) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


class PrintSink:
    """Writes each message body as one line to stdout: for looking, piping and tests."""

    destination = "stdout"

    def __init__(self, stats: Stats, stream: BinaryIO | None = None) -> None:
        """Print to `stream` (stdout's bytes by default)."""
        self.stats = stats
        self.stream = stream if stream is not None else sys.stdout.buffer

    async def __aenter__(self) -> Self:
        """Nothing to connect."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Flush what is buffered."""
        self._flush()

    async def send(self, message: Message) -> None:
        """Write the body and count it as confirmed."""
        self.stats.record_sent(message.size)
        try:
            # Flushed line by line: in real time a reader wants each one as it comes.
            self.stream.write(message.body + b"\n")
            self.stream.flush()
        except BrokenPipeError:
            self.stats.record_failure(message.size, "stdout closed")
            raise TransportError("stdout was closed") from None
        self.stats.confirmed += message.size

    async def drain(self) -> None:
        """Flush stdout."""
        self._flush()

    def _flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            pass
