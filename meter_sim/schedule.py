"""When readings are due: real time, accelerated (N simulated seconds a second) or at once."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime

_LOGGER = logging.getLogger(__name__)


def parse_time(text: str) -> int:
    """RFC 3339 / ISO 8601 (a date alone is midnight, naive is UTC) to epoch seconds."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def aligned_now(interval: int, now: float | None = None) -> int:
    """The latest multiple of the interval (in epoch seconds) not after now."""
    now = time.time() if now is None else now
    return int(now // interval) * interval


class Clock:
    """Maps a reading's simulated time to the moment it is due."""

    def __init__(self, speed: float | None, origin: int, *, future: bool = False) -> None:
        """speed None: wall clock; 0: no waiting; N: N simulated seconds per real second.

        Unless `future`, no reading is due before the wall clock reaches its time: the
        server refuses readings from the future, so an accelerated run that catches up with
        the present goes on in real time.
        """
        self.speed = speed
        self.origin = origin
        self.future = future
        self._started = time.monotonic()
        self._caught_up = False

    @property
    def mode(self) -> str:
        """A short description for logs."""
        if self.speed is None:
            return "real time"
        if self.speed == 0:
            return "as fast as possible"
        return f"{self.speed:g}x"

    def delay(self, ts: int) -> float:
        """Seconds until a reading at `ts` is due (zero or less: due now)."""
        wall = ts - time.time()
        if self.speed is None:
            return wall
        fast = (
            0.0
            if self.speed == 0
            else (self._started + (ts - self.origin) / self.speed - time.monotonic())
        )
        if self.future or wall <= fast:
            return fast
        if wall > 0 and not self._caught_up:
            self._caught_up = True
            _LOGGER.warning(
                "caught up with the present: going on in real time (--future to run ahead)"
            )
        return wall

    async def wait_until_due(self, ts: int, stop: asyncio.Event) -> bool:
        """Sleep until `ts` is due; False when `stop` was set first."""
        while (delay := self.delay(ts)) > 0:
            if stop.is_set():
                return False
            # Wake at most every minute: the wall clock may be stepped meanwhile.
            try:
                await asyncio.wait_for(stop.wait(), timeout=min(delay, 60.0))
            except TimeoutError:
                continue
            return False
        return not stop.is_set()
