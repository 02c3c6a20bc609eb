"""The ingest service: register readings become consumption; cumulative meters of one batch
placed among their stored readings."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import pytest
import sqlalchemy as sa

from energymon.events import EventHub
from energymon.models import Principal, Reading
from energymon.services.devices import DeviceService
from energymon.services.ingest import STORED, IngestService, cumulative_delta
from energymon.storage.schema import hourly, readings

HOUR = 3600
T0 = 1_763_600_400  # 2025-11-20 01:00 UTC


def _expected(sent: dict[int, int]) -> dict[int, int]:
    """Each register reading's consumption: since the reading before it in time."""
    out: dict[int, int] = {}
    previous = None
    for ts in sorted(sent):
        out[ts] = 0 if previous is None else cumulative_delta(previous, sent[ts])
        previous = sent[ts]
    return out


async def _stored(db, device_id: int) -> tuple[dict[int, int], dict[int, int]]:  # type: ignore[no-untyped-def]
    """(ts -> consumption, hour -> total) as stored for one device."""
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(readings.c.ts, readings.c.consumption_mwh).where(
                readings.c.device_id == device_id
            )
        )
        consumption = {r.ts: int(r.consumption_mwh) for r in rows}
        rows = await conn.execute(
            sa.select(hourly.c.hour_ts, hourly.c.total_mwh).where(hourly.c.device_id == device_id)
        )
        totals = {r.hour_ts: int(r.total_mwh) for r in rows if r.total_mwh}
    return consumption, totals


async def test_several_cumulative_meters_in_one_batch_with_late_readings(db, admin):
    boss = Principal(admin.id, admin.user.email, admin.user.role)
    devices = DeviceService(db, EventHub())
    ingest = IngestService(db, EventHub())
    meters = [
        (
            await devices.create(
                boss,
                description=f"Register {i}",
                address="",
                max_hourly_wh=100_000,
                meter_kind="cumulative",
            )
        ).id
        for i in range(4)
    ]
    interval = (
        await devices.create(boss, description="Interval", address="", max_hourly_wh=100_000)
    ).id
    m = 20 * 60
    first = {
        meters[0]: {T0: 1_000_000, T0 + m: 1_400_000, T0 + 3 * m: 2_000_000, T0 + 5 * m: 2_900_000},
        meters[1]: {T0 + 30: 50_000, T0 + 2 * m: 450_000, T0 + 4 * m: 100_000},  # reset
        meters[2]: {T0 + HOUR: 7_000_000},
        meters[3]: {T0 + 2 * HOUR: 10},
    }
    later = {
        # Late ones between stored ones, one before all of them, one after.
        meters[0]: {T0 - 600: 900_000, T0 + 2 * m: 1_700_000, T0 + 4 * m: 2_300_000},
        # One between the reset and the reading before it, one after everything.
        meters[1]: {T0 + 3 * m: 600_000, T0 + 6 * m: 300_000},
        meters[2]: {T0 + HOUR - 60: 6_900_000, T0 + HOUR + 60: 7_100_000},
        # Its first readings: this meter was new in the first batch too.
        meters[3]: {T0 + HOUR: 5},
    }
    sent: dict[int, dict[int, int]] = defaultdict(dict)
    for batch in (first, later):
        items = [Reading(d, ts, v) for d, values in batch.items() for ts, v in values.items()]
        items.append(Reading(interval, T0 + len(sent[interval]), 1000))
        sent[interval][T0 + len(sent[interval])] = 1000
        outcomes = await ingest.ingest(items)
        assert {o.status for o in outcomes} == {STORED}
        for d, values in batch.items():
            sent[d].update(values)

    for device_id in meters:
        consumption, totals = await _stored(db, device_id)
        expected = _expected(sent[device_id])
        assert consumption == expected, device_id
        hours: dict[int, int] = defaultdict(int)
        for ts, mwh in expected.items():
            hours[ts - ts % HOUR] += mwh
        assert totals == {h: t for h, t in hours.items() if t}, device_id
    consumption, _totals = await _stored(db, interval)
    assert consumption == {T0: 1000, T0 + 1: 1000}


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
