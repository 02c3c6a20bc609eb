"""A simulation run without I/O: devices, meter kind, source, times; yields the readings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from meter_sim.csvsource import CsvSeries, CsvSource
from meter_sim.meters import EnergySource, MeterKind, Tick, ticks
from meter_sim.profiles import ProfileSource
from meter_sim.readings import Message, Reading, encode_message

_LOGGER = logging.getLogger(__name__)

DEFAULT_INTERVAL = 600


@dataclass(frozen=True)
class Scenario:
    """Everything that decides the readings; the same scenario gives the same bytes."""

    devices: tuple[int, ...]
    seed: int
    start: int
    kind: MeterKind = MeterKind.INTERVAL
    interval: int = DEFAULT_INTERVAL
    end: int | None = None
    count: int | None = None
    batch: int = 1
    speed: float | None = None
    csv: CsvSeries | None = None
    loop: bool = False
    future: bool = False

    @property
    def finite(self) -> bool:
        """True when the run ends by itself (end, count or a CSV file not looped)."""
        return (
            self.end is not None
            or self.count is not None
            or (self.csv is not None and not self.loop)
        )

    def source(self) -> EnergySource:
        """The energy source: the CSV file if given, else the household profile."""
        if self.csv is not None:
            return CsvSource(self.csv, self.start, self.interval, loop=self.loop)
        return ProfileSource(self.seed, self.start, self.interval)

    def ticks(self) -> Iterator[Tick]:
        """Every device's readings, one moment at a time."""
        return ticks(
            self.devices, self.kind, self.source(), seed=self.seed, end=self.end, count=self.count
        )

    def messages(self) -> Iterator[Message]:
        """The messages a run sends, in order, when nothing waits (for tests and --print)."""
        pending: dict[int, list[Reading]] = {}
        for tick in self.ticks():
            for reading in tick.readings:
                if (message := self.add(pending, reading)) is not None:
                    yield message
        yield from self.flush(pending)

    def add(self, pending: dict[int, list[Reading]], reading: Reading) -> Message | None:
        """Add a reading to its device's batch; return the message when the batch is full."""
        batch = pending.setdefault(reading.device_id, [])
        batch.append(reading)
        if len(batch) < self.batch:
            return None
        del pending[reading.device_id]
        return encode_message(batch, as_array=self.batch > 1)

    def flush(self, pending: dict[int, list[Reading]]) -> Iterator[Message]:
        """Messages for the partly filled batches left at the end."""
        for batch in pending.values():
            yield encode_message(batch, as_array=self.batch > 1)
        pending.clear()
