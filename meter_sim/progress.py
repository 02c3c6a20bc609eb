"""The live progress line on stderr and the final summary."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TextIO

from meter_sim.readings import format_ts
from meter_sim.stats import Stats

_LOGGER = logging.getLogger(__name__)

_CLEAR = "\r\x1b[K"


class Progress:
    """Redraws one status line about once a second (a plain line every 10 s when not a tty)."""

    def __init__(self, stats: Stats, stream: TextIO, *, enabled: bool, live: bool) -> None:
        """`enabled` False silences everything; `live` False keeps only the summary."""
        self.stats = stats
        self.stream = stream
        self.enabled = enabled
        self.live = live and enabled
        self.tty = _isatty(stream)
        self._started = time.monotonic()
        self._last_time = self._started
        self._last_confirmed = 0
        self._rate = 0.0
        self._drawn = False

    async def run(self) -> None:
        """Update until cancelled."""
        period = 1.0 if self.tty else 10.0
        while True:
            await asyncio.sleep(period)
            self.update()

    def update(self) -> None:
        """Measure the rate since the last update and draw the line."""
        now = time.monotonic()
        elapsed = now - self._last_time
        if elapsed > 0:
            self._rate = (self.stats.confirmed - self._last_confirmed) / elapsed
        self._last_time, self._last_confirmed = now, self.stats.confirmed
        if not self.live:
            return
        if self.tty:
            self.stream.write(_CLEAR + self.line())
            self._drawn = True
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def line(self) -> str:
        """The status: sent, confirmed, failed, resent, in flight, rate, simulated time."""
        s = self.stats
        text = (
            f"sent {s.sent:,}  confirmed {s.confirmed:,}  failed {s.failed:,}  "
            f"resent {s.resent:,}  in flight {s.in_flight:,}  {self._rate:,.0f}/s"
        )
        if s.latest_ts is not None:
            text += f"  at {format_ts(s.latest_ts)}"
        if s.note:
            text += f"  ({s.note})"
        return text

    def clear(self) -> None:
        """Wipe the live line so a log record or the summary starts on a clean line."""
        if self._drawn:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self._drawn = False

    def summary(self, destination: str, seed: int) -> str:
        """The final report."""
        s = self.stats
        elapsed = max(time.monotonic() - self._started, 1e-9)
        text = (
            f"{s.sent:,} readings in {s.messages:,} messages to {destination}: "
            f"{s.confirmed:,} confirmed, {s.failed:,} failed, {s.resent:,} resent"
        )
        if s.in_flight:
            text += f", {s.in_flight:,} unconfirmed"
        if s.reconnects:
            text += f", {s.reconnects} reconnects"
        text += f"; {elapsed:.1f} s, {s.confirmed / elapsed:,.0f}/s; seed {seed}"
        if s.failures:
            reasons = "; ".join(f"{why} x{n:,}" for why, n in s.failures.most_common())
            text += f"\nfailed: {reasons}"
        return text

    def finish(self, destination: str, seed: int) -> None:
        """Replace the live line with the summary."""
        if not self.enabled:
            return
        self.clear()
        self.stream.write(self.summary(destination, seed) + "\n")
        self.stream.flush()


class ProgressLogHandler(logging.StreamHandler[TextIO]):
    """A stderr handler that clears the live line before each record."""

    def __init__(self, progress: Progress | None, stream: TextIO) -> None:
        """Log to `stream`, wiping `progress` first."""
        super().__init__(stream)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        """Clear the progress line, then write the record."""
        if self.progress is not None:
            self.progress.clear()
        super().emit(record)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
