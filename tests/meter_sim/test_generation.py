"""Readings without I/O: format, determinism, meter kinds, profile, CSV, device and token lists."""

from __future__ import annotations

import itertools
import json
import statistics
import time
from pathlib import Path

import pytest

from meter_sim.csvsource import load_csv, parse_csv
from meter_sim.devices import parse_device_ids
from meter_sim.errors import UsageError
from meter_sim.meters import MeterKind
from meter_sim.profiles import Household
from meter_sim.readings import Reading, encode_message, format_kwh
from meter_sim.scenario import Scenario
from meter_sim.schedule import Clock, aligned_now, parse_time
from meter_sim.tokens import parse_tokens

NOV_1 = parse_time("2026-11-01T00:00:00Z")
DAY = 86400


def all_readings(scenario: Scenario) -> list[Reading]:
    return [r for tick in scenario.ticks() for r in tick.readings]


# ---- wire format ---------------------------------------------------------------------------


def test_reading_json_is_the_servers_contract():
    reading = Reading(17, parse_time("2026-11-23T10:10:00Z"), 412_000)
    assert reading.to_json() == '{"device_id": 17, "ts": "2026-11-23T10:10:00Z", "value": 0.412}'
    assert json.loads(reading.to_json()) == {
        "device_id": 17,
        "ts": "2026-11-23T10:10:00Z",
        "value": 0.412,
    }


@pytest.mark.parametrize(
    ("mwh", "text"),
    [
        (0, "0.0"),
        (1, "0.000001"),
        (412_000, "0.412"),
        (1_000_000, "1.0"),
        (48_213_123_456, "48213.123456"),
    ],
)
def test_values_have_at_most_six_decimals_and_no_exponent(mwh, text):
    assert format_kwh(mwh) == text
    assert round(float(text) * 1_000_000) == mwh


def test_batches_are_json_arrays_of_one_device():
    readings = [Reading(3, NOV_1 + i * 600, 1000 * i) for i in range(3)]
    message = encode_message(readings, as_array=True)
    assert json.loads(message.body) == [json.loads(r.to_json()) for r in readings]
    assert message.body.startswith(b'[{"device_id": 3, ')
    single = encode_message(readings[:1], as_array=False)
    assert single.body == readings[0].to_json().encode()
    with pytest.raises(ValueError, match="one device"):
        encode_message([Reading(1, NOV_1, 0), Reading(2, NOV_1, 0)], as_array=True)


def test_batching_per_device_with_a_partial_batch_at_the_end():
    scenario = Scenario(devices=(1, 2), seed=1, start=NOV_1, count=5, batch=2)
    messages = list(scenario.messages())
    assert [(m.device_id, m.size) for m in messages] == [
        (1, 2),
        (2, 2),
        (1, 2),
        (2, 2),
        (1, 1),
        (2, 1),
    ]
    assert all(m.body.startswith(b"[") for m in messages)  # arrays even for the last one
    assert [r for m in messages for r in m.readings if r.device_id == 1] == [
        r for r in all_readings(scenario) if r.device_id == 1
    ]


# ---- determinism and meter kinds -----------------------------------------------------------


@pytest.mark.parametrize("kind", list(MeterKind))
def test_same_seed_same_bytes(kind):
    def run(seed: int) -> bytes:
        scenario = Scenario(devices=(1, 2, 50), seed=seed, start=NOV_1, count=300, kind=kind)
        return b"\n".join(m.body for m in scenario.messages())

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_a_device_reads_the_same_whatever_the_other_devices():
    alone = Scenario(devices=(7,), seed=5, start=NOV_1, count=50)
    crowd = Scenario(devices=(1, 7, 9), seed=5, start=NOV_1, count=50)
    assert all_readings(alone) == [r for r in all_readings(crowd) if r.device_id == 7]


def test_devices_differ():
    readings = all_readings(Scenario(devices=(1, 2, 3), seed=5, start=NOV_1, count=144))
    series = {d: [r.value_mwh for r in readings if r.device_id == d] for d in (1, 2, 3)}
    assert len({tuple(v) for v in series.values()}) == 3
    assert len({sum(v) for v in series.values()}) == 3


def test_interval_readings_are_non_negative_and_on_the_interval_grid():
    scenario = Scenario(devices=tuple(range(1, 21)), seed=9, start=NOV_1, count=7 * 144)
    readings = all_readings(scenario)
    assert len(readings) == 20 * 7 * 144
    assert min(r.value_mwh for r in readings) >= 0
    assert {r.ts % 600 for r in readings} == {0}
    assert readings[0].ts == NOV_1


def test_cumulative_registers_are_monotonic_and_add_up_the_interval_energy():
    common = {"devices": tuple(range(1, 11)), "seed": 4, "start": NOV_1, "count": 3 * 144}
    cumulative = all_readings(Scenario(kind=MeterKind.CUMULATIVE, **common))
    interval = all_readings(Scenario(kind=MeterKind.INTERVAL, **common))
    starts = set()
    for device in common["devices"]:
        registers = [r.value_mwh for r in cumulative if r.device_id == device]
        energies = [r.value_mwh for r in interval if r.device_id == device]
        assert all(b >= a for a, b in itertools.pairwise(registers))
        assert registers[-1] - registers[0] == sum(energies[1:])
        assert 500 * 1_000_000 <= registers[0] - energies[0] < 50_000 * 1_000_000
        starts.add(registers[0] - energies[0])
    assert len(starts) == 10  # each device starts from its own register value


def test_end_is_exclusive_and_count_is_per_device():
    day = Scenario(devices=(1, 2), seed=1, start=NOV_1, end=NOV_1 + DAY)
    readings = all_readings(day)
    assert len(readings) == 2 * 144
    assert max(r.ts for r in readings) == NOV_1 + DAY - 600
    assert len(all_readings(Scenario(devices=(1, 2, 3), seed=1, start=NOV_1, count=4))) == 12


# ---- the household profile -----------------------------------------------------------------


def test_profile_daily_energy_is_plausible():
    devices = tuple(range(1, 121))
    scenario = Scenario(devices=devices, seed=11, start=NOV_1 + 600, end=NOV_1 + 7 * DAY + 600)
    totals = dict.fromkeys(devices, 0)
    for reading in all_readings(scenario):
        totals[reading.device_id] += reading.value_mwh
    per_day_kwh = [t / 7 / 1_000_000 for t in totals.values()]
    assert 7 <= statistics.mean(per_day_kwh) <= 16  # a typical household uses ~10 kWh a day
    assert min(per_day_kwh) > 2
    assert max(per_day_kwh) < 45
    assert statistics.pstdev(per_day_kwh) > 1  # scaled per device: they differ


def test_profile_has_night_base_and_morning_and_evening_peaks():
    households = [Household.for_device(3, d) for d in range(1, 101)]
    monday = parse_time("2026-11-02T00:00:00Z")

    def mean_kw(hour: float) -> float:
        return statistics.mean(h.power_kw(monday + hour * 3600) for h in households)

    night, morning, noon, evening = mean_kw(3), mean_kw(7), mean_kw(12.5), mean_kw(19)
    assert night < 0.3
    assert morning > 1.8 * night
    assert evening > morning > noon > night


# ---- CSV replay ----------------------------------------------------------------------------


def test_csv_of_bare_values_gets_the_interval_grid(tmp_path: Path):
    path = tmp_path / "sensor.csv"
    path.write_text("0.412\n0.5\n\n0.0\n1.25\n")
    series = load_csv(path)
    assert series.timestamps is None
    scenario = Scenario(devices=(1, 2), seed=1, start=NOV_1, interval=900, csv=series)
    readings = all_readings(scenario)
    assert [(r.ts - NOV_1, r.value_mwh) for r in readings if r.device_id == 2] == [
        (0, 412_000),
        (900, 500_000),
        (1800, 0),
        (2700, 1_250_000),
    ]
    assert len(readings) == 8  # the file ends the run


def test_csv_with_header_and_times_keeps_or_shifts_them():
    text = (
        "ts,value\n2026-11-01T00:15:00Z,0.1\n2026-11-01T00:30:00+00:00,0.2\n"
        "2026-11-01 00:45:00,0.3\n"
    )
    series = parse_csv(text)
    first = parse_time("2026-11-01T00:15:00Z")
    assert series.timestamps == (first, first + 900, first + 1800)
    kept = all_readings(Scenario(devices=(5,), seed=1, start=first, csv=series))
    assert [(r.ts, r.value_mwh) for r in kept] == [
        (first, 100_000),
        (first + 900, 200_000),
        (first + 1800, 300_000),
    ]
    later = parse_time("2027-01-01T00:00:00Z")
    shifted = all_readings(Scenario(devices=(5,), seed=1, start=later, csv=series))
    assert [r.ts for r in shifted] == [later, later + 900, later + 1800]


def test_csv_epoch_seconds_and_a_value_header():
    assert parse_csv("kwh\n1\n2\n").values == (1_000_000, 2_000_000)
    assert parse_csv("1793491200,0.5\n1793492100,0.25\n").timestamps == (1793491200, 1793492100)


def test_csv_cumulative_replay_and_loop():
    series = parse_csv("0.1\n0.2\n")
    scenario = Scenario(
        devices=(1,), seed=2, start=NOV_1, csv=series, loop=True, count=5, kind=MeterKind.CUMULATIVE
    )
    readings = all_readings(scenario)
    steps = [b.value_mwh - a.value_mwh for a, b in itertools.pairwise(readings)]
    assert steps == [200_000, 100_000, 200_000, 100_000]
    assert [r.ts - NOV_1 for r in readings] == [0, 600, 1200, 1800, 2400]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "no readings"),
        ("value\n", "no readings"),
        ("0.1\nabc\n", "line 2: 'abc' is not a number"),
        ("0.1\n-0.2\n", "line 2: '-0.2' is not a non-negative energy"),
        ("0.1\nnan\n", "line 2"),
        ("a,b,c\n", "line 1: expected 'value' or 'ts,value', got 3 fields"),
        ("2026-11-01T00:00:00Z,0.1\n0.2\n", "line 2: expected 2 field(s), got 1"),
        ("2026-11-01T00:10:00Z,0.1\n2026-11-01T00:00:00Z,0.2\n", "line 2: time"),
        ("yesterday,0.1\n", "line 1: 'yesterday' is not a time"),
    ],
)
def test_ill_formed_csv_is_reported_with_its_line(text, error):
    with pytest.raises(ValueError, match="^" + error.replace("(", r"\(").replace(")", r"\)")):
        parse_csv(text)


def test_unreadable_csv_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="cannot read CSV file"):
        load_csv(tmp_path / "missing.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(UsageError, match="cannot read CSV file"):
        load_csv(binary)


# ---- devices, tokens, clock ----------------------------------------------------------------


def test_device_lists():
    assert parse_device_ids("1-3,205") == (1, 2, 3, 205)
    assert parse_device_ids(" 5, 2-3 ,3 ") == (5, 2, 3)
    assert len(parse_device_ids("1-100,205")) == 101


@pytest.mark.parametrize("text", ["", "a", "1-", "-5", "0", "3-1", "1,,x", "1.5", "1-2000000"])
def test_bad_device_lists(text):
    with pytest.raises(UsageError):
        parse_device_ids(text)


def test_token_lists():
    text = "# device token\n1 tok-one\n2: tok.two\n\n3 tok3, 4 tok4  # two on a line\n"
    assert parse_tokens(text, origin="t") == {1: "tok-one", 2: "tok.two", 3: "tok3", 4: "tok4"}
    with pytest.raises(UsageError, match="line 1: expected 'device_id token'"):
        parse_tokens("tok-without-device", origin="t")


def test_clock_modes():
    assert aligned_now(600, now=NOV_1 + 1234.5) == NOV_1 + 1200
    past = parse_time("2020-01-01T00:00:00Z")
    assert Clock(None, past).delay(past) < 0  # in the past: due at once (backfill)
    assert Clock(0, past).delay(past + 10**6) == 0
    fast = Clock(600, past)
    assert 0.9 < fast.delay(past + 600) <= 1.0
    assert fast.delay(past) <= 0


def test_accelerated_clocks_stop_at_the_present_unless_told():
    now = int(time.time())
    in_an_hour = now + 3600
    assert 3590 < Clock(0, now).delay(in_an_hour) <= 3600  # the server refuses the future
    assert 3590 < Clock(3600, now).delay(in_an_hour) <= 3600
    assert Clock(0, now, future=True).delay(in_an_hour) == 0
    assert 0.9 < Clock(3600, now, future=True).delay(in_an_hour) <= 1.0
