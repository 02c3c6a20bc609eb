"""Replay of a CSV file: one value a line, or `ts,value` lines with an optional header."""

from __future__ import annotations

import csv
import io
import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from meter_sim.errors import UsageError
from meter_sim.readings import MWH_PER_KWH

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CsvSeries:
    """The rows of a CSV file: energies in mWh and, for `ts,value` files, their times."""

    values: tuple[int, ...]
    timestamps: tuple[int, ...] | None

    @property
    def first_ts(self) -> int | None:
        """The first row's time, or None for a file of bare values."""
        return self.timestamps[0] if self.timestamps else None


def load_csv(path: Path) -> CsvSeries:
    """Read and check a CSV file; raise UsageError naming the file and line when ill-formed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot read CSV file {str(path)!r}: {reason}") from None
    try:
        return parse_csv(text)
    except ValueError as exc:
        raise UsageError(f"CSV file {str(path)!r}: {exc}") from None


def parse_csv(text: str) -> CsvSeries:
    """Parse CSV text; raise ValueError with the line number when ill-formed."""
    values: list[int] = []
    stamps: list[int] = []
    columns = 0
    for number, row in _rows(text):
        if columns == 0:
            if len(row) not in (1, 2):
                raise ValueError(
                    f"line {number}: expected 'value' or 'ts,value', got {len(row)} fields"
                )
            columns = len(row)
            if not values and not _is_number(row[-1]):
                continue  # a header such as `value` or `ts,kwh`
        if len(row) != columns:
            raise ValueError(f"line {number}: expected {columns} field(s), got {len(row)}")
        values.append(_value(row[-1], number))
        if columns == 2:
            ts = _timestamp(row[0], number)
            if stamps and ts <= stamps[-1]:
                raise ValueError(
                    f"line {number}: time {row[0].strip()!r} is not after the one before"
                )
            stamps.append(ts)
    if not values:
        raise ValueError("no readings in the file")
    return CsvSeries(tuple(values), tuple(stamps) if columns == 2 else None)


class CsvSource:
    """Interval energies from a CSV series: the same for every device, optionally looped."""

    def __init__(self, series: CsvSeries, start: int, interval: int, *, loop: bool) -> None:
        """Bare values get times start, start + interval, ...; timed rows are shifted to start."""
        self.series = series
        self.start = start
        self.interval = interval
        self.loop = loop

    def intervals(self, device_id: int) -> Iterator[tuple[int, int]]:
        """Yield (ts, energy in mWh) for each row, again and again when looping."""
        laps = itertools.count() if self.loop else range(1)
        stamps = self.series.timestamps
        if stamps is None:
            period = len(self.series.values) * self.interval
            offsets = [i * self.interval for i in range(len(self.series.values))]
        else:
            gap = stamps[-1] - stamps[-2] if len(stamps) > 1 else self.interval
            period = stamps[-1] - stamps[0] + gap
            offsets = [ts - stamps[0] for ts in stamps]
        for lap in laps:
            base = self.start + lap * period
            for offset, value in zip(offsets, self.series.values, strict=True):
                yield base + offset, value


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank, non-comment rows with their 1-based line numbers."""
    reader = csv.reader(io.StringIO(text))
    for row in reader:
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        yield reader.line_num, cells


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _value(text: str, number: int) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"line {number}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"line {number}: {text!r} is not a non-negative energy in kWh")
    return round(value * MWH_PER_KWH)


def _timestamp(text: str, number: int) -> int:
    """An RFC 3339 / ISO 8601 time (naive = UTC) or epoch seconds, as whole epoch seconds."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"line {number}: {text!r} is not a time")
        return math.floor(seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"line {number}: {text!r} is not a time (RFC 3339 or epoch seconds)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())
