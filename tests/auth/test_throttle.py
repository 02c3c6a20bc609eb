"""Login throttling and token buckets, without HTTP: in-flight attempts count, delays grow per
client, buckets refill at their rate; an injected clock stands in for time."""

from __future__ import annotations

import pytest

from energymon.auth.throttle import LoginThrottle, TokenBuckets
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


def test_the_address_cap_lifts_as_old_failures_leave_the_window():
    clock = Clock()
    t = throttle(clock, address_limit=3, window_seconds=100)
    for n in range(3):
        fail(t, email=f"user{n}@x")
        clock.now += 10  # failures at 1000, 1010, 1020
    with pytest.raises(TooManyRequests) as refused:
        t.attempt("other@x", "10.0.0.1")
    assert refused.value.retry_after == 70  # until 1100, when the first one leaves
    clock.now = 1100
    with t.attempt("other@x", "10.0.0.1") as attempt:
        attempt.succeeded()


def test_attempts_in_flight_count_against_the_address_cap():
    t = throttle(Clock(), address_limit=2)
    first = t.attempt("a@x", "10.0.0.1")
    second = t.attempt("b@x", "10.0.0.1")
    with pytest.raises(TooManyRequests) as refused:
        t.attempt("c@x", "10.0.0.1")
    assert refused.value.retry_after == 1
    first.succeeded()
    first.__exit__(None, None, None)
    with t.attempt("c@x", "10.0.0.1") as attempt:
        attempt.succeeded()
    second.__exit__(None, None, None)


def test_leaving_an_attempt_twice_counts_once():
    t = throttle(Clock(), account_limit=1)
    attempt = t.attempt("a@x", "10.0.0.1")
    attempt.__exit__(None, None, None)
    attempt.__exit__(None, None, None)
    assert t.tracked() == 0


@pytest.mark.parametrize(
    ("failures", "delay"), [(0, 0.0), (4, 0.0), (5, 1.0), (6, 2.0), (9, 16.0), (30, 900.0)]
)
def test_the_delay_for_a_number_of_failures(failures, delay):
    assert throttle(Clock()).delay(failures) == delay


def test_email_and_address_are_tracked_as_given():
    # The caller normalises the email; the throttle keys on exactly what it gets.
    t = throttle(Clock(), account_limit=1)
    fail(t, email="a@x")
    with pytest.raises(TooManyRequests):
        t.attempt("a@x", "10.0.0.1")
    with t.attempt("b@x", "10.0.0.1") as attempt:
        attempt.succeeded()


# ---- token buckets (registrations per address) ---------------------------------------------


def buckets(clock: Clock, rate: float = 1.0, burst: int = 3, **kw: int) -> TokenBuckets:
    return TokenBuckets(rate, burst, what="registrations", clock=clock, **kw)


def test_a_burst_then_refused_with_the_wait_for_one_token():
    clock = Clock()
    b = buckets(clock, rate=0.5, burst=3)
    for _ in range(3):
        b.take("10.0.0.1")
    with pytest.raises(TooManyRequests, match="too many registrations") as refused:
        b.take("10.0.0.1")
    assert refused.value.retry_after == 2  # one token at 0.5 a second


def test_tokens_come_back_at_the_rate_up_to_the_burst():
    clock = Clock()
    b = buckets(clock, rate=1.0, burst=3)
    for _ in range(3):
        b.take("k")
    clock.now += 1
    b.take("k")  # one token back after a second
    with pytest.raises(TooManyRequests):
        b.take("k")
    clock.now += 3600  # a long quiet time refills to the burst, no further
    for _ in range(3):
        b.take("k")
    with pytest.raises(TooManyRequests):
        b.take("k")


def test_a_refused_take_spends_nothing():
    clock = Clock()
    b = buckets(clock, rate=1.0, burst=1)
    b.take("k")
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            b.take("k")
    clock.now += 1
    b.take("k")


def test_each_key_has_its_own_bucket():
    b = buckets(Clock(), burst=1)
    b.take("10.0.0.1")
    b.take("10.0.0.2")
    b.take(("account", 7))
    with pytest.raises(TooManyRequests):
        b.take("10.0.0.1")


@pytest.mark.parametrize(("rate", "retry_after"), [(1 / 3600, 3600), (1 / 60, 60), (10.0, 1)])
def test_retry_after_is_whole_seconds_rounded_up(rate, retry_after):
    b = buckets(Clock(), rate=rate, burst=1)
    b.take("k")
    with pytest.raises(TooManyRequests) as refused:
        b.take("k")
    assert refused.value.retry_after == retry_after


def test_the_bucket_table_stays_bounded():
    b = buckets(Clock(), burst=1, max_tracked=100)
    for n in range(1_000):
        b.take(f"10.0.{n // 256}.{n % 256}")
    assert b.tracked() == 100
    b.take("10.0.0.0")  # forgotten long ago: it comes back full
