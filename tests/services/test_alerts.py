"""The hourly limit and peak power rules of services/alerts.py, without storage or HTTP."""

from __future__ import annotations

import pytest

from energymon.services.alerts import (
    average_power_mw,
    crosses_hourly_limit,
    exceeds_peak,
    is_late,
    over_hourly_limit,
)

LIMIT_WH = 1500  # 1.5 kWh an hour
LIMIT_MWH = LIMIT_WH * 1000
HOUR = 1_795_168_800  # 2026-11-20T10:00:00Z


@pytest.mark.parametrize(
    ("total_mwh", "over"),
    [
        (None, False),  # no data for the hour
        (0, False),
        (LIMIT_MWH - 1, False),
        (LIMIT_MWH, False),  # at the limit is within it
        (LIMIT_MWH + 1, True),  # one mWh more is over
        (10**15, True),
    ],
)
def test_over_the_hourly_limit_means_strictly_above_it(total_mwh: int | None, over: bool) -> None:
    assert over_hourly_limit(total_mwh, LIMIT_WH) is over


def test_a_limit_of_zero_makes_any_consumption_over_it() -> None:
    assert not over_hourly_limit(0, 0)
    assert over_hourly_limit(1, 0)


@pytest.mark.parametrize(
    ("before", "after", "crosses"),
    [
        (0, LIMIT_MWH + 1, True),  # one reading takes the hour over
        (LIMIT_MWH, LIMIT_MWH + 1, True),  # from exactly at the limit
        (LIMIT_MWH - 5, LIMIT_MWH, False),  # up to the limit, not over
        (LIMIT_MWH + 1, LIMIT_MWH + 500, False),  # already over: no second alert
        (0, 0, False),
        (LIMIT_MWH + 1, 0, False),  # an hour that goes down never crosses
    ],
)
def test_only_the_change_that_takes_the_hour_over_crosses(
    before: int, after: int, crosses: bool
) -> None:
    assert crosses_hourly_limit(before, after, LIMIT_WH) is crosses


@pytest.mark.parametrize(
    ("delta_mwh", "seconds", "mw"),
    [
        (1_000_000, 3600, 1_000_000),  # 1 kWh in an hour: 1 kW
        (250_000, 900, 1_000_000),  # 0.25 kWh in 15 minutes: 1 kW
        (1_000, 1, 3_600_000),  # 1 Wh in a second: 3.6 kW
        (1, 7200, 0),  # rounded down to whole mW
        (0, 60, 0),
        (5_000, 0, 0),  # no interval: no power can be told
        (5_000, -10, 0),
    ],
)
def test_average_power_over_an_interval(delta_mwh: int, seconds: int, mw: int) -> None:
    assert average_power_mw(delta_mwh, seconds) == mw


@pytest.mark.parametrize(
    ("power_mw", "peak"),
    [(LIMIT_MWH - 1, False), (LIMIT_MWH, False), (LIMIT_MWH + 1, True), (0, False)],
)
def test_a_peak_is_power_above_the_hourly_limit_read_as_kilowatts(
    power_mw: int, peak: bool
) -> None:
    assert exceeds_peak(power_mw, LIMIT_WH) is peak


def test_a_peak_follows_from_the_interval_it_was_measured_over() -> None:
    # 0.5 kWh is within 1.5 kWh for the hour, but drawn in 10 minutes it is 3 kW.
    assert not over_hourly_limit(500_000, LIMIT_WH)
    assert exceeds_peak(average_power_mw(500_000, 600), LIMIT_WH)
    assert not exceeds_peak(average_power_mw(500_000, 3600), LIMIT_WH)


@pytest.mark.parametrize(
    ("now", "late"),
    [
        (HOUR, False),
        (HOUR + 3599, False),
        (HOUR + 3599.999, False),
        (HOUR + 3600, True),  # the hour has ended
        (HOUR + 86_400, True),
    ],
)
def test_an_alert_is_late_once_its_hour_has_ended(now: float, late: bool) -> None:
    assert is_late(HOUR, now) is late
