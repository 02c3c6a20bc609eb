"""Login throttling: per (account, client) growing delays, and a cap per client address.

Attempts count from the moment they start, not only once they failed: twenty wrong passwords
sent at once must not all be checked. The delays grow for one account *from one client*, so
nobody can lock another person out of their account from elsewhere; the per-address cap
bounds what one client may try across many accounts.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from energymon.errors import TooManyRequests

# Entries each table keeps at most; the least recently used go first. An attacker who fills
# a table with addresses of their own forgets their own failures, not anyone else's rules.
MAX_TRACKED = 100_000
# The first delay after the free attempts; each further failure doubles it.
FIRST_DELAY_SECONDS = 1.0


@dataclass
class _Pair:
    """One account from one client: failures in a row and attempts in flight."""

    failures: int = 0
    last_failure: float = 0.0
    in_flight: int = 0


@dataclass
class _Address:
    """One client: times of its recent failures, and attempts in flight."""

    failures: deque[float] = field(default_factory=deque)
    in_flight: int = 0


K = TypeVar("K")
V = TypeVar("V")


class _Table(Generic[K, V]):
    """A dict bounded to `size` entries, least recently used first out."""

    def __init__(self, size: int, make: Callable[[], V]) -> None:
        self._size = size
        self._make = make
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def setdefault(self, key: K) -> V:
        entry = self.get(key)
        if entry is None:
            entry = self._entries[key] = self._make()
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def discard(self, key: K, entry: V) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class Attempt:
    """One login attempt in flight: report how it ended, and leave the context."""

    def __init__(self, throttle: LoginThrottle, pair_key: tuple[str, str], address: str) -> None:
        self._throttle = throttle
        self._pair_key = pair_key
        self._address = address
        self._pair = throttle._pairs.setdefault(pair_key)
        self._client = throttle._addresses.setdefault(address)
        self._pair.in_flight += 1
        self._client.in_flight += 1
        self._open = True

    def failed(self) -> None:
        now = self._throttle._clock()
        self._pair.failures += 1
        self._pair.last_failure = now
        self._client.failures.append(now)

    def succeeded(self) -> None:
        """The right password: this client's count for the account starts again."""
        self._pair.failures = 0

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self._open:
            return
        self._open = False
        self._pair.in_flight -= 1
        self._client.in_flight -= 1
        if not self._pair.failures and not self._pair.in_flight:
            self._throttle._pairs.discard(self._pair_key, self._pair)
        if not self._client.failures and not self._client.in_flight:
            self._throttle._addresses.discard(self._address, self._client)


class LoginThrottle:
    """Decides whether a login attempt may be checked now.

    Held in the process: with several energymon processes behind a balancer each keeps
    its own count, so the effective limits are multiplied by the number of processes.
    """

    def __init__(
        self,
        *,
        account_limit: int,
        address_limit: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.account_limit = account_limit
        self.address_limit = address_limit
        self.window = window_seconds
        self._clock = clock
        self._pairs: _Table[tuple[str, str], _Pair] = _Table(max_tracked, _Pair)
        self._addresses: _Table[str, _Address] = _Table(max_tracked, _Address)

    def tracked(self) -> int:
        """Entries held in all tables (for tests and metrics)."""
        return len(self._pairs) + len(self._addresses)

    def delay(self, failures: int) -> float:
        """How long after the last failure the next attempt may come."""
        if failures < self.account_limit:
            return 0.0
        return min(self.window, FIRST_DELAY_SECONDS * 2.0 ** (failures - self.account_limit))

    def _pair_wait(self, pair: _Pair | None, now: float) -> float:
        if pair is None:
            return 0.0
        if pair.failures and now - pair.last_failure >= self.window:
            pair.failures = 0  # quiet for a whole window: start again
        if pair.failures + pair.in_flight < self.account_limit:
            return 0.0
        if pair.in_flight:
            # Past the free attempts only one at a time, after the delay.
            return max(1.0, self.delay(pair.failures + pair.in_flight))
        return pair.last_failure + self.delay(pair.failures) - now

    def _address_wait(self, client: _Address | None, now: float) -> float:
        if client is None:
            return 0.0
        recent = client.failures
        while recent and recent[0] <= now - self.window:
            recent.popleft()
        if len(recent) + client.in_flight < self.address_limit:
            return 0.0
        # At the latest when the oldest failure leaves the window.
        return recent[0] + self.window - now if recent else 1.0

    def attempt(self, email: str, address: str) -> Attempt:
        """Start an attempt, or raise TooManyRequests with how long to wait."""
        now = self._clock()
        key = (email, address)
        wait = max(
            self._pair_wait(self._pairs.get(key), now),
            self._address_wait(self._addresses.get(address), now),
        )
        if wait > 0:
            raise TooManyRequests(
                "too many failed logins: wait before trying again", retry_after=math.ceil(wait)
            )
        return Attempt(self, key, address)


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """One token bucket per key (an account, an address): `burst` at once, then `rate` a
    second. A bucket dropped from the bounded table comes back full, which costs an
    attacker nothing they could not get by waiting."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        what: str,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._what = what
        self._clock = clock
        self._buckets: _Table[object, _Bucket] = _Table(
            max_tracked, lambda: _Bucket(float(burst), clock())
        )

    def take(self, key: object) -> None:
        """Spend one token of `key`'s bucket, or raise TooManyRequests with the wait."""
        now = self._clock()
        bucket = self._buckets.setdefault(key)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            raise TooManyRequests(
                f"too many {self._what}: slow down",
                retry_after=math.ceil((1 - bucket.tokens) / self.rate),
            )
        bucket.tokens -= 1

    def tracked(self) -> int:
        return len(self._buckets)
