"""From a batch of message bodies to stored readings and dead letters, whatever the carrier."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Generic, TypeVar

from energymon.errors import DomainError, Unavailable
from energymon.models import Reading
from energymon.services.ingest import CONFLICT, REJECTED, IngestService, Outcome
from energymon.services.readings import INLINE_BYTES, Rejected, mwh_to_kwh, parse

_LOGGER = logging.getLogger(__name__)
MAX_BACKOFF = 30.0
# Readings per ingest transaction, about (whole messages: one may take a slice past it).
MAX_READINGS = 10_000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """The part of one message that was refused, and why."""

    message_index: int
    body: bytes
    reasons: list[str]


class Inbox(Generic[T]):
    """Items waiting to be processed, handed out in batches.

    A batch goes out when it is full, or `wait_ms` after the taker started waiting for more:
    one timer per batch, instead of a wake-up (and a timeout) for every item that arrives.
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._wanted = 1

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and len(self._items) >= self._wanted and not waiter.done():
            waiter.set_result(None)

    async def receive(self, item: T) -> None:
        """`put`, as a coroutine function: what aio-pika takes as a consumer callback."""
        self.put(item)

    async def take(self, limit: int, wait_ms: int) -> list[T]:
        """Wait for one item, then for up to `limit` within `wait_ms`; take them."""
        if not self._items:
            await self._wait_for(1, None)
        if len(self._items) < limit and wait_ms > 0:
            await self._wait_for(limit, wait_ms / 1000)
        items = self._items
        return [items.popleft() for _ in range(min(limit, len(items)))]

    async def _wait_for(self, count: int, seconds: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._wanted = count
        timer = None if seconds is None else loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _dead_body(items: list[Reading | Rejected], message: bytes) -> bytes:
    """The refused readings of a message; the message as it came when they cannot be
    written back faithfully (a number too long to convert, nesting near the limit)."""

    def raw(item: Reading | Rejected) -> object:
        if isinstance(item, Rejected):
            return item.raw
        ts = datetime.fromtimestamp(item.ts, UTC).isoformat().replace("+00:00", "Z")
        return {"device_id": item.device_id, "ts": ts, "value": mwh_to_kwh(item.value_mwh)}

    values = [raw(i) for i in items]
    try:
        return json.dumps(values[0] if len(values) == 1 else values, default=_unwritable).encode()
    except (TypeError, ValueError, RecursionError):
        return message


def _unwritable(value: object) -> object:
    # A float writes back the same digits up to 15 significant ones; longer: the whole message.
    if (
        isinstance(value, Decimal)
        and len(value.as_tuple().digits) <= 15
        and -300 < value.adjusted() < 300
    ):
        return float(value)
    raise TypeError(f"{type(value).__name__} cannot be written back")


async def _parse(body: bytes, now: float, max_bytes: int) -> list[Reading | Rejected]:
    if len(body) > max_bytes:
        reason = f"the message has {len(body):,} bytes, more than the {max_bytes:,} accepted"
        return [Rejected(reason, None, whole_message=True)]
    try:
        return await parse(body, now)
    except DomainError as exc:
        return [Rejected(exc.detail, None, whole_message=True)]


async def process(
    ingest: IngestService,
    bodies: Sequence[bytes],
    *,
    max_message_bytes: int,
    stopping: Callable[[], bool] = lambda: False,
) -> list[DeadLetter]:
    """Store every good reading of the batch; return what must go to the dead-letter queue.

    Messages are stored in slices of about `MAX_READINGS` readings (a message is never
    split), one transaction each: gateways sending large arrays keep memory and transactions
    bounded. A database outage is waited out here, with backoff, while the messages stay
    unacknowledged, so good readings are never dead-lettered and redelivery counts do not grow.
    """
    now = time.time()
    parsed_since_yield = 0  # bytes parsed on the loop since it last had a turn
    bad: dict[int, tuple[list[Reading | Rejected], list[str]]] = {}
    owners: list[int] = []
    items: list[Reading | Rejected] = []
    last = len(bodies) - 1
    for index, body in enumerate(bodies):
        parsed = await _parse(body, now, max_message_bytes)
        owners.extend([index] * len(parsed))
        items.extend(parsed)
        # Many small messages must not hold the loop either.
        parsed_since_yield += len(body)
        if parsed_since_yield >= INLINE_BYTES:
            parsed_since_yield = 0
            await asyncio.sleep(0)
        if len(items) >= MAX_READINGS or index == last:
            outcomes = await _ingest_waiting_out_outages(ingest, items, stopping)
            for owner, item, outcome in zip(owners, items, outcomes, strict=True):
                if outcome.status in (REJECTED, CONFLICT):
                    entry = bad.setdefault(owner, ([], []))
                    entry[0].append(item)
                    entry[1].append(f"{outcome.status}: {outcome.reason}")
            owners, items = [], []
    letters = []
    for index, (bad_items, reasons) in sorted(bad.items()):
        whole = any(isinstance(i, Rejected) and i.whole_message for i in bad_items)
        body = bodies[index] if whole else _dead_body(bad_items, bodies[index])
        letters.append(DeadLetter(index, body, reasons))
    return letters


async def _ingest_waiting_out_outages(
    ingest: IngestService, items: list[Reading | Rejected], stopping: Callable[[], bool]
) -> list[Outcome]:
    delay = 0.5
    while True:
        try:
            return await ingest.ingest(items)
        except Unavailable as exc:
            if stopping():
                raise
            _LOGGER.warning("ingest paused, retrying in %.1fs: %s", delay, exc.detail)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
