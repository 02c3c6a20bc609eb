"""The built-in daily household load profile: night base load, morning and evening peaks."""

from __future__ import annotations

import hashlib
import logging
import math
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from meter_sim.readings import MWH_PER_KWH

_LOGGER = logging.getLogger(__name__)

SECONDS_PER_HOUR = 3600
_STEP = 300  # integrate power in steps of at most 5 minutes
_EVENTS_PER_HOUR = 0.5  # kettles, ovens, washing machines: short bursts on top of the shape


@dataclass(frozen=True, slots=True)
class Household:
    """One household's load shape (kW, hours of the UTC day); each device gets its own."""

    base_kw: float
    morning_kw: float
    morning_at: float
    evening_kw: float
    evening_at: float
    day_kw: float
    scale: float

    @classmethod
    def for_device(cls, seed: int, device_id: int) -> Household:
        """The household of one device: depends only on the seed and the device id."""
        rng = random.Random(f"energymon-meter/household/{seed}/{device_id}")  # noqa: S311 (simulation)
        return cls(
            base_kw=rng.uniform(0.08, 0.22),
            morning_kw=rng.uniform(0.3, 0.8),
            morning_at=rng.uniform(6.25, 7.75),
            evening_kw=rng.uniform(0.6, 1.4),
            evening_at=rng.uniform(18.0, 20.0),
            day_kw=rng.uniform(0.05, 0.3),
            scale=min(3.0, max(0.35, rng.lognormvariate(0.0, 0.3))),
        )

    def power_kw(self, ts: float) -> float:
        """Mean power at a moment, before noise."""
        hour = (ts % 86400) / SECONDS_PER_HOUR
        weekend = (int(ts // 86400) + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        morning_at = self.morning_at + (1.5 if weekend else 0.0)
        day_kw = self.day_kw * (1.8 if weekend else 1.0)
        power = (
            self.base_kw
            + self.morning_kw * _bump(hour, morning_at, 0.9)
            + self.evening_kw * _bump(hour, self.evening_at, 1.6)
            + day_kw * _window(hour, 9.0, 17.0)
        )
        return self.scale * power

    def energy_mwh(self, start: int, end: int) -> float:
        """Energy used between two moments without noise, in mWh."""
        steps = max(1, math.ceil((end - start) / _STEP))
        width = (end - start) / steps
        total_kw = sum(self.power_kw(start + (i + 0.5) * width) for i in range(steps))
        return total_kw * width / SECONDS_PER_HOUR * MWH_PER_KWH


class ProfileSource:
    """Interval energies from the household profile, with noise keyed by (seed, device, time)."""

    def __init__(self, seed: int, start: int, interval: int) -> None:
        """Readings at start, start + interval, ...; each covers the interval before it."""
        self.seed = seed
        self.start = start
        self.interval = interval

    def intervals(self, device_id: int) -> Iterator[tuple[int, int]]:
        """Yield (ts, energy in mWh) forever."""
        household = Household.for_device(self.seed, device_id)
        ts = self.start
        while True:
            yield ts, self.energy(household, device_id, ts - self.interval, ts)
            ts += self.interval

    def energy(self, household: Household, device_id: int, start: int, end: int) -> int:
        """Noisy energy of one interval: a pure function of seed, device and interval."""
        mean = household.energy_mwh(start, end)
        u1, u2, u3, u4 = _uniforms(f"{self.seed}/{device_id}/{start}/{end}", 4)
        hours = (end - start) / SECONDS_PER_HOUR
        # Short intervals are noisier than long ones, as real meters are.
        sigma = min(0.5, 0.25 / math.sqrt(max(hours * 6, 1e-9)))
        factor = max(0.0, 1.0 + sigma * _gauss(u1, u2))
        energy = mean * factor
        hour = (end % 86400) / SECONDS_PER_HOUR
        awake = 0.15 if hour < 6 or hour >= 23 else 1.0
        if u3 < min(1.0, _EVENTS_PER_HOUR * hours * awake):
            energy += household.scale * (0.03 + 0.12 * u4) * MWH_PER_KWH
        return round(energy)


def _bump(hour: float, center: float, width: float) -> float:
    """A bell curve over the hours of the day that wraps around midnight."""
    distance = abs(hour - center) % 24
    distance = min(distance, 24 - distance)
    return math.exp(-0.5 * (distance / width) ** 2)


def _window(hour: float, begin: float, end: float) -> float:
    """About 1 between begin and end, with one-hour soft edges."""
    rise = 1 / (1 + math.exp(-(hour - begin) * 4))
    fall = 1 / (1 + math.exp((hour - end) * 4))
    return rise * fall


def _uniforms(key: str, count: int) -> list[float]:
    """Deterministic uniforms in (0, 1) from a key, independent of any RNG state."""
    digest = hashlib.blake2b(key.encode(), digest_size=8 * count).digest()
    return [(n + 0.5) / 2**64 for n in struct.unpack(f"<{count}Q", digest)]


def _gauss(u1: float, u2: float) -> float:
    """A standard normal variate from two uniforms (Box-Muller)."""
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
