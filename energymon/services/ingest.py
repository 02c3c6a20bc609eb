"""Storing readings exactly once, keeping hourly totals exact and checking limits inline.

Every transport (AMQP consumer, HTTP ingest, in-process bus) hands batches to `ingest`.
One batch is one transaction: look up the meters (services/meters.py), drop what is already
stored, insert the new readings, add them to their hours, read back the totals that are over
their limit and raise the alerts whose limit this batch crossed. Races with other writers
are retried as a whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import Contention
from energymon.events import (
    AlertRaised,
    AlertWithdrawn,
    EventHub,
    HourTotalChanged,
    ReadingStored,
)
from energymon.models import Alert, Device, Reading, StoredReading
from energymon.services import alerts as rules
from energymon.services.meters import MeterCache
from energymon.services.readings import Rejected, mwh_to_kwh
from energymon.storage import Database
from energymon.storage import alerts as alerts_store
from energymon.storage import readings as readings_store

_LOGGER = logging.getLogger(__name__)

Status = Literal["stored", "duplicate", "conflict", "rejected"]
STORED: Final = "stored"
DUPLICATE: Final = "duplicate"
CONFLICT: Final = "conflict"
REJECTED: Final = "rejected"
ATTEMPTS = 8
Key = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one input item."""

    status: Status
    reason: str | None = None


@dataclass
class _Batch:
    """The work and results of one transaction."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    # (device_id, ts, value_mwh, consumption_mwh) of each new reading
    rows: list[tuple[int, int, int, int]] = field(default_factory=list)
    updates: list[dict[str, int]] = field(default_factory=list)
    hour_deltas: dict[Key, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    peaks: dict[Key, int] = field(default_factory=dict)
    # Hours of cumulative meters whose readings were re-split by a late reading: their
    # alerts are checked again against the stored readings.
    recheck: set[Key] = field(default_factory=set)
    withdrawn: list[Alert] = field(default_factory=list)
    # The new totals of the hours this batch changed: all of them while someone follows
    # hour totals, otherwise only those an alert can be about.
    totals: dict[Key, int] = field(default_factory=dict)
    all_totals: bool = False
    alerts: list[Alert] = field(default_factory=list)
    meters: dict[int, Device] = field(default_factory=dict)


_STORED = Outcome(STORED)
_ALREADY_STORED = Outcome(DUPLICATE, "already stored")


def cumulative_delta(previous_mwh: int, current_mwh: int) -> int:
    """Consumption between two register readings; a register that went back was reset."""
    return current_mwh - previous_mwh if current_mwh >= previous_mwh else current_mwh


class IngestService:
    """The one way readings get stored."""

    def __init__(
        self, db: Database, hub: EventHub, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._hub = hub
        self._clock = clock
        self._meters = MeterCache()

    async def ingest(self, items: Sequence[Reading | Rejected]) -> list[Outcome]:
        """Store the readings among `items`; one outcome per item, in order."""
        outcomes: list[Outcome | None] = [None] * len(items)
        first: dict[Key, int] = {}
        candidates: list[tuple[int, Reading]] = []
        repeats: list[tuple[int, int]] = []
        for index, item in enumerate(items):
            if isinstance(item, Rejected):
                outcomes[index] = Outcome(REJECTED, item.reason)
                continue
            key = (item.device_id, item.ts)
            if key in first:
                repeats.append((index, first[key]))
            else:
                first[key] = index
                candidates.append((index, item))
        if candidates:
            batch = await self._store_with_retry(candidates)
            for index, outcome in batch.outcomes.items():
                outcomes[index] = outcome
            self._announce(batch)
        for index, first_index in repeats:
            outcomes[index] = self._repeat(items[index], items[first_index], outcomes[first_index])
        return [o if o is not None else Outcome(REJECTED, "not processed") for o in outcomes]

    @staticmethod
    def _repeat(
        item: Reading | Rejected, first: Reading | Rejected, prior: Outcome | None
    ) -> Outcome:
        """A key sent twice in one batch: the first one decides."""
        assert isinstance(item, Reading) and isinstance(first, Reading)
        if item.value_mwh != first.value_mwh:
            return Outcome(CONFLICT, "the same device and time came twice with different values")
        if prior is None or prior.status == STORED:
            return _ALREADY_STORED
        return prior

    async def _store_with_retry(self, candidates: list[tuple[int, Reading]]) -> _Batch:
        """The first attempt assumes every reading is new, which spares a query in the usual
        case; a duplicate key makes the insert fail, and later attempts look first."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._db.write() as conn:
                    return await self._store(
                        conn, candidates, self._clock(), look_first=attempt > 1
                    )
            except Contention:
                if attempt == ATTEMPTS:
                    raise
                _LOGGER.debug("ingest batch retried, attempt %d", attempt)
                if attempt > 1:
                    await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    async def _store(
        self,
        conn: AsyncConnection,
        candidates: list[tuple[int, Reading]],
        now: float,
        *,
        look_first: bool,
    ) -> _Batch:
        batch = _Batch()
        batch.meters = await self._meters.lookup(conn, {r.device_id for _, r in candidates})
        known = []
        for index, reading in candidates:
            if reading.device_id in batch.meters:
                known.append((index, reading))
            else:
                batch.outcomes[index] = Outcome(REJECTED, f"unknown device {reading.device_id}")
        stored = (
            await readings_store.existing(conn, [(r.device_id, r.ts) for _, r in known])
            if look_first
            else {}
        )
        fresh: list[tuple[int, Reading]] = []
        for index, reading in known:
            previous = stored.get((reading.device_id, reading.ts))
            if previous is None:
                fresh.append((index, reading))
            elif previous == reading.value_mwh:
                batch.outcomes[index] = _ALREADY_STORED
            else:
                batch.outcomes[index] = Outcome(
                    CONFLICT, f"{mwh_to_kwh(previous)} kWh is already stored for this time"
                )

        cumulative: dict[int, list[tuple[int, Reading]]] = defaultdict(list)
        for index, reading in fresh:
            if batch.meters[reading.device_id].meter_kind == "cumulative":
                cumulative[reading.device_id].append((index, reading))
            else:
                self._add_new(batch, index, reading, reading.value_mwh)
        if cumulative:
            for entries in cumulative.values():
                entries.sort(key=lambda e: e[1].ts)
            spans = {d: (e[0][1].ts, e[-1][1].ts) for d, e in cumulative.items()}
            stored_around = await readings_store.around(conn, spans)
            for device_id, entries in cumulative.items():
                self._place_cumulative(batch, device_id, entries, stored_around[device_id])

        await readings_store.insert(conn, batch.rows)
        await readings_store.set_consumption(conn, batch.updates)
        deltas = {k: (v[0], v[1]) for k, v in batch.hour_deltas.items() if v != [0, 0]}
        if deltas:
            await readings_store.add_to_hours(conn, deltas)
            await self._read_totals(conn, batch, deltas)
            await self._raise_alerts(conn, batch, deltas, now)
        return batch

    async def _read_totals(
        self, conn: AsyncConnection, batch: _Batch, deltas: dict[Key, tuple[int, int]]
    ) -> None:
        """Read back the totals the alert rules (and, while followed, the hour events) need.

        An hour can only cross its limit if it is over it now, and can only drop back under
        if this batch shrank it; the usual batch touches neither, and reads back no rows.
        """
        if self._hub.wants(HourTotalChanged):
            batch.totals = await readings_store.hour_totals(conn, deltas)
            batch.all_totals = True
            return
        batch.totals = await readings_store.hour_totals_over_limit(conn, deltas)
        shrunk = [key for key, (delta, _count) in deltas.items() if delta < 0]
        if shrunk:
            batch.totals.update(await readings_store.hour_totals(conn, shrunk))

    @staticmethod
    def _add_new(batch: _Batch, index: int, reading: Reading, consumption: int) -> None:
        batch.outcomes[index] = _STORED
        batch.rows.append((reading.device_id, reading.ts, reading.value_mwh, consumption))
        delta = batch.hour_deltas[(reading.device_id, reading.hour_ts)]
        delta[0] += consumption
        delta[1] += 1

    def _place_cumulative(
        self,
        batch: _Batch,
        device_id: int,
        entries: list[tuple[int, Reading]],
        neighbours: list[StoredReading],
    ) -> None:
        """Turn register readings into consumption, against the stored readings around them.

        `entries` are in time order, `neighbours` the stored readings around them. Each
        reading accounts for the energy since the reading before it in time. A late reading
        that lands between two stored ones splits the later one's consumption.
        """
        merged: list[tuple[int, int, StoredReading | None, int | None]] = [
            (s.ts, s.value_mwh, s, None) for s in neighbours
        ] + [(r.ts, r.value_mwh, None, index) for index, r in entries]
        merged.sort(key=lambda m: m[0])
        by_index = dict(entries)
        for position, (ts, value, stored_row, index) in enumerate(merged):
            if position == 0:
                if index is not None:  # the meter's first reading: its baseline
                    self._add_new(batch, index, by_index[index], 0)
                continue
            prev_ts, prev_value = merged[position - 1][0], merged[position - 1][1]
            consumption = cumulative_delta(prev_value, value)
            hour = ts - ts % 3600
            if index is not None:
                self._add_new(batch, index, by_index[index], consumption)
            elif stored_row is not None and stored_row.consumption_mwh != consumption:
                batch.updates.append({"d": device_id, "t": ts, "c": consumption})
                batch.recheck.add((device_id, hour))
                batch.hour_deltas[(device_id, hour)][0] += consumption - stored_row.consumption_mwh
            else:
                continue
            power = rules.average_power_mw(consumption, ts - prev_ts)
            limit = batch.meters[device_id].max_hourly_wh
            if rules.exceeds_peak(power, limit):
                key = (device_id, hour)
                batch.peaks[key] = max(power, batch.peaks.get(key, 0))

    async def _raise_alerts(
        self, conn: AsyncConnection, batch: _Batch, deltas: dict[Key, tuple[int, int]], now: float
    ) -> None:
        for (device_id, hour), (delta, _count) in sorted(deltas.items()):
            after = batch.totals.get((device_id, hour))
            if after is None:  # not read back: under its limit, and this batch did not shrink it
                continue
            limit = batch.meters[device_id].max_hourly_wh
            if rules.crosses_hourly_limit(after - delta, after, limit):
                await self._raise(conn, batch, device_id, hour, rules.HOURLY_LIMIT, after, now)
            elif delta < 0 and after <= limit * 1000:
                # Only a re-split cumulative hour can shrink: it is no longer over.
                await self._withdraw(conn, batch, device_id, hour, rules.HOURLY_LIMIT)
        for key in sorted(batch.recheck - batch.peaks.keys()):
            device_id, hour = key
            series = await readings_store.hour_series(conn, device_id, hour)
            power = max(
                (
                    rules.average_power_mw(cumulative_delta(prev[1], cur[1]), cur[0] - prev[0])
                    for prev, cur in pairwise(series)
                    if cur[0] >= hour
                ),
                default=0,
            )
            if rules.exceeds_peak(power, batch.meters[device_id].max_hourly_wh):
                batch.peaks[key] = power
            else:
                await self._withdraw(conn, batch, device_id, hour, rules.PEAK_POWER)
        for (device_id, hour), power in sorted(batch.peaks.items()):
            await self._raise(conn, batch, device_id, hour, rules.PEAK_POWER, power, now)

    @staticmethod
    async def _withdraw(
        conn: AsyncConnection, batch: _Batch, device_id: int, hour: int, kind: str
    ) -> None:
        alert = await alerts_store.withdraw(conn, device_id=device_id, hour_ts=hour, kind=kind)
        if alert is not None:
            batch.withdrawn.append(alert)

    @staticmethod
    async def _raise(
        conn: AsyncConnection,
        batch: _Batch,
        device_id: int,
        hour: int,
        kind: str,
        value: int,
        now: float,
    ) -> None:
        alert = await alerts_store.raise_once(
            conn,
            device_id=device_id,
            hour_ts=hour,
            kind=kind,
            value=value,
            limit_wh=batch.meters[device_id].max_hourly_wh,
            late=rules.is_late(hour, now),
        )
        if alert is not None:
            batch.alerts.append(alert)

    def _announce(self, batch: _Batch) -> None:
        """Tell the rest of the process (and, with a broker, the others), after the commit."""
        for alert in batch.alerts:
            _LOGGER.info(
                "alert %s for device %d hour %d", alert.kind, alert.device_id, alert.hour_ts
            )
        if not self._hub.listening:
            return
        publish, meters = self._hub.publish, batch.meters
        # Readings and hour totals are many: built only while someone follows them.
        for device_id, ts, value, consumption in (
            batch.rows if self._hub.wants(ReadingStored) else ()
        ):
            publish(
                ReadingStored(
                    StoredReading(device_id, ts, value, consumption),
                    meters[device_id].audience(ts),
                )
            )
        for (device_id, hour), total in (
            batch.totals.items() if batch.all_totals and self._hub.wants(HourTotalChanged) else ()
        ):
            meter = meters[device_id]
            publish(
                HourTotalChanged(
                    device_id=device_id,
                    hour_ts=hour,
                    total_mwh=total,
                    limit_wh=meter.max_hourly_wh,
                    over_limit=rules.over_hourly_limit(total, meter.max_hourly_wh),
                    owner_id=meter.audience(hour),
                )
            )
        for alert in batch.alerts:
            device = meters.get(alert.device_id)
            publish(AlertRaised(alert, device.description if device else ""))
        for alert in batch.withdrawn:
            publish(AlertWithdrawn(alert))
