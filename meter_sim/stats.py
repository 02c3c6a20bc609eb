"""Counters shared by the runner, the transports and the progress line."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

_LOGGER = logging.getLogger(__name__)


@dataclass
class Stats:
    """Readings sent, confirmed, failed and resent, why they failed, and a transport note."""

    sent: int = 0
    confirmed: int = 0
    failed: int = 0
    resent: int = 0
    messages: int = 0
    reconnects: int = 0
    latest_ts: int | None = None
    note: str = ""
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def in_flight(self) -> int:
        """Readings sent but neither confirmed nor given up yet."""
        return self.sent - self.confirmed - self.failed

    def record_sent(self, readings: int) -> None:
        """A message enters the transport for the first time."""
        self.sent += readings
        self.messages += 1

    def record_failure(self, readings: int, reason: str) -> None:
        """A message is given up; the reason is counted for the summary."""
        self.failed += readings
        self.failures[reason] += readings
