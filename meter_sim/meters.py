"""Meters turn interval energies into readings: interval meters and cumulative registers."""

from __future__ import annotations

import enum
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from meter_sim.readings import Reading

_LOGGER = logging.getLogger(__name__)


class MeterKind(enum.StrEnum):
    """What a meter sends: the energy of the last interval, or its register total."""

    INTERVAL = "interval"
    CUMULATIVE = "cumulative"


class EnergySource(Protocol):
    """Where interval energies come from (the household profile, a CSV file)."""

    def intervals(self, device_id: int) -> Iterator[tuple[int, int]]:
        """Yield (ts, energy in mWh of the interval ending at ts), ts increasing."""
        ...


def initial_register(seed: int, device_id: int) -> int:
    """A cumulative meter's register at the start, in mWh: 500 to 50,000 kWh, per device."""
    rng = random.Random(f"energymon-meter/register/{seed}/{device_id}")  # noqa: S311 (simulation)
    return rng.randrange(500, 50_000) * 1_000_000 + rng.randrange(1000) * 1000


def meter_readings(
    device_id: int, kind: MeterKind, source: EnergySource, *, seed: int
) -> Iterator[Reading]:
    """Readings of one meter, forever or until the source runs out."""
    if kind is MeterKind.INTERVAL:
        for ts, energy in source.intervals(device_id):
            yield Reading(device_id, ts, energy)
        return
    register = initial_register(seed, device_id)
    for ts, energy in source.intervals(device_id):
        register += energy
        yield Reading(device_id, ts, register)


@dataclass(frozen=True, slots=True)
class Tick:
    """The readings every device takes at one moment."""

    ts: int
    readings: list[Reading]


def ticks(
    devices: Sequence[int],
    kind: MeterKind,
    source: EnergySource,
    *,
    seed: int,
    end: int | None = None,
    count: int | None = None,
) -> Iterator[Tick]:
    """All devices' readings, one tick at a time; stop before `end`, after `count` per device."""
    meters = [meter_readings(d, kind, source, seed=seed) for d in devices]
    taken = 0
    while count is None or taken < count:
        try:
            readings = [next(meter) for meter in meters]
        except StopIteration:
            return
        ts = readings[0].ts
        if end is not None and ts >= end:
            return
        yield Tick(ts, readings)
        taken += 1
