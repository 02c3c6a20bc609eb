"""Rules of services/ingest.py that need no storage: register readings become consumption."""

from __future__ import annotations

from itertools import pairwise

import pytest

from energymon.services.ingest import cumulative_delta


@pytest.mark.parametrize(
    ("previous", "current", "delta"),
    [
        (0, 0, 0),
        (1_000, 1_000, 0),  # no consumption between the readings
        (1_000, 1_250, 250),
        (0, 5_000_000, 5_000_000),
        (10**15 - 1, 10**15, 1),
        (5_000, 4_000, 4_000),  # went back: the register was reset to 0 and counted 4 Wh since
        (5_000, 0, 0),  # reset and nothing since
        (10**15, 1, 1),  # a register that wrapped round
    ],
)
def test_consumption_between_two_register_readings(previous: int, current: int, delta: int) -> None:
    assert cumulative_delta(previous, current) == delta


def test_consumption_is_never_negative() -> None:
    for previous in range(0, 50, 7):
        for current in range(0, 50, 5):
            assert cumulative_delta(previous, current) >= 0


def test_consecutive_deltas_add_up_to_the_register_without_resets() -> None:
    register = [0, 120, 120, 400, 1_000, 1_001]
    deltas = [cumulative_delta(a, b) for a, b in pairwise(register)]
    assert sum(deltas) == register[-1] - register[0]
