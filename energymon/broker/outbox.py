"""Events waiting to be sent to the broker, bounded, dropping the least important first.

While the broker is slow or unreachable events pile up here. Beyond `capacity` something
must go: readings and hour totals first (storage keeps them; a page reloads them), then chat
and other notices, and only when nothing else is left the alerts, device owner changes and
account revocations (the events that keep people informed and take access away). What is
kept leaves in the order it was published.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable

from energymon.events import (
    AccountRevoked,
    AlertRaised,
    AlertWithdrawn,
    DeviceAssigned,
    DeviceUnassigned,
    Event,
    SessionsEnded,
)

_LOGGER = logging.getLogger(__name__)

BULK, NOTICE, VITAL = 0, 1, 2
_VITAL_KINDS: tuple[type[Event], ...] = (
    AlertRaised,
    AlertWithdrawn,
    DeviceAssigned,
    DeviceUnassigned,
    AccountRevoked,
    SessionsEnded,
)


Entry = tuple[int, Event]


def _order(entry: Entry) -> int:
    return entry[0]


def tier(kind: type[Event]) -> int:
    """How important a kind is to keep: bulk kinds go first, vital ones last."""
    if kind.bulk:
        return BULK
    return VITAL if issubclass(kind, _VITAL_KINDS) else NOTICE


class Outbox:
    """At most `capacity` events in three deques, one per tier."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds at least one event")
        self.capacity = capacity
        # (publish order, event): each tier is in order, and take() merges them back.
        self._tiers: tuple[deque[Entry], deque[Entry], deque[Entry]] = (deque(), deque(), deque())
        self._size = 0
        self._seq = 0
        # Per kind, since the start (a metric) and since the last report (the log line).
        self.dropped: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        # The tier of each kind seen, so a publish costs a dict look-up, not issubclass.
        self._tier_of: dict[type[Event], int] = {}

    def __len__(self) -> int:
        return self._size

    def put(self, event: Event) -> None:
        """Keep `event`; when full, drop the oldest event of the lowest tier present, unless
        `event` itself is of a lower tier than everything kept (then it is dropped)."""
        kind = type(event)
        rank = self._tier_of.get(kind)
        if rank is None:
            rank = self._tier_of[kind] = tier(kind)
        if self._size >= self.capacity:
            lowest = next(t for t in (BULK, NOTICE, VITAL) if self._tiers[t])
            if lowest > rank:
                self._drop(event)
                return
            self._drop(self._tiers[lowest].popleft()[1])
            self._size -= 1
        self._seq += 1
        self._tiers[rank].append((self._seq, event))
        self._size += 1

    def _drop(self, event: Event) -> None:
        if not self._unreported:
            _LOGGER.warning(
                "events outbox full (%d): dropping events, readings and hour totals first",
                self.capacity,
            )
        self.dropped[event.kind] += 1
        self._unreported[event.kind] += 1

    def take(self) -> list[Event]:
        """Everything kept, in the order it was published; empties the outbox."""
        bulk, notice, vital = self._tiers
        if not notice and not vital:  # the usual batch: readings and hour totals only
            events = [event for _, event in bulk]
        else:
            events = [event for _, event in heapq.merge(bulk, notice, vital, key=_order)]
        for queue in self._tiers:
            queue.clear()
        self._size = 0
        return events

    def report(self) -> None:
        """Log one line with what was dropped since the last report, by kind (if anything)."""
        if not self._unreported:
            return
        counts = ", ".join(f"{kind}={count}" for kind, count in sorted(self._unreported.items()))
        _LOGGER.warning("events outbox dropped %d events: %s", self._unreported.total(), counts)
        self._unreported.clear()

    async def send_loop(
        self, wakeup: asyncio.Event, flush: Callable[[], Awaitable[None]], what: str
    ) -> None:
        """Until cancelled: each time `wakeup` is set, `flush` what is held. A failed flush is
        logged and the loop goes on (storage holds the truth; these are notifications)."""
        while True:
            await wakeup.wait()
            wakeup.clear()
            try:
                await flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.exception("could not publish %s", what)
            self.report()
