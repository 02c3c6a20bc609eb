"""Login throttling: too many recent failures for one account or one address get refused."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from energymon.errors import TooManyRequests


class FailureWindow:
    """Counts failures per key over a sliding window; memory is bounded by pruning."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        entries = self._failures.get(key)
        if entries is None:
            return deque()
        while entries and entries[0] <= now - self.window:
            entries.popleft()
        if not entries:
            del self._failures[key]
        return entries

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may now."""
        entries = self._recent(key)
        if len(entries) < self.limit:
            return None
        return math.ceil(entries[-self.limit] + self.window - self._clock())

    def fail(self, key: str) -> None:
        self._recent(key)
        self._failures.setdefault(key, deque(maxlen=self.limit)).append(self._clock())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    """Per-account and per-address failure limits for the login endpoint.

    Held in the process: with several energymon processes behind a balancer each keeps
    its own count, so the effective limit is multiplied by the number of processes.
    """

    def __init__(
        self,
        *,
        account_limit: int,
        address_limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accounts = FailureWindow(account_limit, window_seconds, clock)
        self._addresses = FailureWindow(address_limit, window_seconds, clock)

    def check(self, email: str, address: str) -> None:
        """Raise TooManyRequests while either the account or the address is locked out."""
        waits = [
            w
            for w in (self._accounts.retry_after(email), self._addresses.retry_after(address))
            if w is not None
        ]
        if waits:
            raise TooManyRequests(
                "too many failed logins: wait before trying again", retry_after=max(waits)
            )

    def failed(self, email: str, address: str) -> None:
        self._accounts.fail(email)
        self._addresses.fail(address)

    def succeeded(self, email: str) -> None:
        self._accounts.clear(email)
