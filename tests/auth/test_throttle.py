"""Login throttling rules, without HTTP: in-flight attempts count, delays grow per client."""

from __future__ import annotations

import pytest

from energymon.auth.throttle import LoginThrottle
from energymon.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **kw: int) -> LoginThrottle:
    limits = {"account_limit": 5, "address_limit": 50, "window_seconds": 900} | kw
    return LoginThrottle(clock=clock, **limits)


def fail(t: LoginThrottle, email: str = "a@x", address: str = "10.0.0.1") -> None:
    with t.attempt(email, address) as attempt:
        attempt.failed()


def test_attempts_in_flight_count_before_they_fail():
    t = throttle(Clock())
    started = [t.attempt("a@x", "10.0.0.1") for _ in range(5)]
    with pytest.raises(TooManyRequests):
        t.attempt("a@x", "10.0.0.1")
    for attempt in started:
        attempt.failed()
        attempt.__exit__(None, None, None)
    with pytest.raises(TooManyRequests):
        t.attempt("a@x", "10.0.0.1")


def test_delays_grow_after_the_free_attempts():
    clock = Clock()
    t = throttle(clock)
    for _ in range(5):
        fail(t)
    waits = []
    for _ in range(4):
        with pytest.raises(TooManyRequests) as refused:
            t.attempt("a@x", "10.0.0.1")
        waits.append(refused.value.retry_after)
        clock.now += refused.value.retry_after
        fail(t)
    assert waits == [1, 2, 4, 8]


def test_the_delay_never_exceeds_the_window_and_a_quiet_window_forgets():
    clock = Clock()
    t = throttle(clock, window_seconds=60)
    for _ in range(5):
        fail(t)
    for _ in range(6):  # 1, 2, 4 ... 32 s
        with pytest.raises(TooManyRequests) as refused:
            t.attempt("a@x", "10.0.0.1")
        clock.now += refused.value.retry_after
        fail(t)
    with pytest.raises(TooManyRequests) as refused:
        t.attempt("a@x", "10.0.0.1")
    assert refused.value.retry_after == 60  # 64 s, capped
    clock.now += 60
    with t.attempt("a@x", "10.0.0.1") as attempt:
        attempt.succeeded()


def test_another_client_is_not_locked_out_of_the_account():
    t = throttle(Clock())
    for _ in range(5):
        fail(t, address="203.0.113.9")
    with pytest.raises(TooManyRequests):
        t.attempt("a@x", "203.0.113.9")
    with t.attempt("a@x", "10.0.0.1") as attempt:
        attempt.succeeded()


def test_one_address_is_capped_across_accounts():
    t = throttle(Clock(), address_limit=3)
    for n in range(3):
        fail(t, email=f"user{n}@x")
    with pytest.raises(TooManyRequests):
        t.attempt("someone-else@x", "10.0.0.1")
    with t.attempt("someone-else@x", "10.0.0.2"):
        pass


def test_a_success_starts_the_count_again():
    t = throttle(Clock(), account_limit=2)
    fail(t)
    with t.attempt("a@x", "10.0.0.1") as attempt:
        attempt.succeeded()
    fail(t)
    with t.attempt("a@x", "10.0.0.1") as attempt:
        attempt.succeeded()


def test_the_tables_stay_bounded():
    t = LoginThrottle(
        account_limit=5, address_limit=50, window_seconds=900, clock=Clock(), max_tracked=100
    )
    for n in range(10_000):
        fail(t, email=f"user{n}@x", address=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert t.tracked() <= 200
    # Attempts that leave nothing to remember leave nothing behind.
    t2 = throttle(Clock())
    with t2.attempt("a@x", "10.0.0.1") as attempt:
        attempt.succeeded()
    assert t2.tracked() == 0
