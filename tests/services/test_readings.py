"""The one reading parser: bytes in, readings or reasons out, in bounded time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from energymon.errors import BadRequest, Invalid
from energymon.models import Reading
from energymon.services.readings import (
    EARLIEST_TS,
    MAX_DEVICE_ID,
    MAX_FUTURE_SECONDS,
    MAX_KWH,
    MAX_READINGS,
    Rejected,
    kwh_to_mwh,
    mwh_to_kwh,
    parse,
    parse_now,
    parse_reading,
)
from tests.ingest.conftest import LoopProbe

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC).timestamp()
TS = "2026-11-20T10:00:00Z"
# A parse of one small message must never cost more than this (measured: microseconds).
BUDGET = 0.01
# The longest the event loop may wait while a large message is parsed.
LOOP_BUDGET = 0.05


async def parse_one(body: bytes, device_id: int | None = None) -> Reading | Rejected:
    (item,) = await parse(body, NOW, device_id=device_id)
    return item


def message(device_id: str = "1", ts: str = f'"{TS}"', value: str = "1") -> bytes:
    """A message with raw JSON text in each field, so hostile numbers arrive unchanged."""
    return f'{{"device_id": {device_id}, "ts": {ts}, "value": {value}}}'.encode()


HUGE = [
    "1e300000",
    "1e1000000",
    "-1e1000000",
    "1e-1000000",
    "1E+999999999",
    "9" * 5000,
    "-" + "9" * 5000,
    "0." + "1" * 5000,
    "1" * 2000 + "." + "1" * 2000 + "e-999999",
]


@pytest.mark.parametrize("field", ["device_id", "ts", "value"])
@pytest.mark.parametrize("number", HUGE, ids=lambda n: n[:12] + f"..{len(n)}")
async def test_a_huge_number_in_any_field_is_refused_at_once(field, number):
    body = message(**{field: number})
    started = time.perf_counter()
    item = await parse_one(body)
    elapsed = time.perf_counter() - started
    assert elapsed < BUDGET, f"{elapsed * 1000:.1f} ms"
    if (field, number) == ("value", "1e-1000000"):
        assert item == Reading(1, 1795168800, 0)  # a tiny energy is simply 0 mWh
    else:
        assert isinstance(item, Rejected)
        assert field in item.reason


@pytest.mark.parametrize("field", ["device_id", "ts", "value"])
async def test_a_huge_string_in_any_field_is_refused_at_once(field):
    body = message(**{field: json.dumps("2026-11-20T10:00:00Z" + "9" * 500_000)})
    async with LoopProbe() as probe:
        item = await parse_one(body)
    assert probe.longest < LOOP_BUDGET
    assert isinstance(item, Rejected)
    assert field in item.reason


async def test_a_tiny_value_rounds_to_zero_and_a_huge_id_is_refused():
    assert await parse_one(message(value="1e-1000000")) == Reading(1, 1795168800, 0)
    big_id = await parse_one(message(device_id=str(2**63)))
    assert isinstance(big_id, Rejected) and "device_id" in big_id.reason


@pytest.mark.parametrize(
    ("value", "mwh"),
    [
        ("0.0000025", 2),  # half-even: exactly between 2 and 3 mWh
        ("0.0000035", 4),
        ("0.0000015", 2),
        ("0.0000025000000000000000000000000001", 3),  # more digits than a float holds
        ("2.5e-6", 2),
        ("1", 1_000_000),
        ("0.412", 412_000),
        ("1000000000", 10**15),
    ],
)
async def test_kwh_become_mwh_exactly_rounding_half_to_even(value, mwh):
    assert await parse_one(message(value=value)) == Reading(1, 1795168800, mwh)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ('"2026-11-20T10:00:00Z"', 1795168800),
        ("1795168800", 1795168800),
        ("1795168800.9", 1795168800),
    ],
)
async def test_timestamps_as_text_or_unix_seconds(ts, expected):
    item = await parse_one(message(ts=ts))
    assert isinstance(item, Reading) and item.ts == expected


async def test_the_device_may_come_from_the_caller():
    assert await parse_one(b'{"ts": 1795168800, "value": 0.5}', device_id=9) == Reading(
        9, 1795168800, 500_000
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"device_id": 1, "ts": 1795168800, "value": 1, "value": 2}',
        b'[{"device_id": 1, "ts": 1795168800, "value": 1}, {"ts": 1, "ts": 2, "value": 1}]',
        b'{"device_id": 1, "ts": 1795168800, "value": 1, "meta": {"a": 1, "a": 1}}',
    ],
)
async def test_a_duplicate_key_anywhere_refuses_the_whole_message(body):
    with pytest.raises(BadRequest, match="duplicate key"):
        await parse(body, NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b'{"device_id": 1, "ts": 1795168800, "value": NaN}',
        b'{"device_id": 1, "ts": 1795168800, "value": Infinity}',
        b'{"device_id": 1, "ts": "\xff", "value": 1}',
        b'{"device_id": 1, "ts": "\\ud800", "value": 1}',
        b"[" * 5_000,
        b'{"a": 1} {"b": 2}',
    ],
    ids=["broken", "empty", "nan", "infinity", "not-utf8", "lone-surrogate", "deep", "two"],
)
async def test_malformed_messages_are_refused_whole_and_fast(body):
    async with LoopProbe() as probe:
        with pytest.raises(BadRequest):
            await parse(body, NOW)
    assert probe.longest < LOOP_BUDGET


async def test_more_readings_than_the_cap_are_refused_whole():
    items = [{"device_id": 1, "ts": 1795168800 + n, "value": 1} for n in range(MAX_READINGS + 1)]
    with pytest.raises(Invalid, match="at most 10,000 readings"):
        await parse(json.dumps(items).encode(), NOW)
    most = json.dumps(items[:MAX_READINGS]).encode()
    async with LoopProbe() as probe:
        with pytest.raises(Invalid):
            await parse(b"[" + b"0," * 100_000 + b"0]", NOW)
        parsed = await parse(most, NOW)
    assert len(parsed) == MAX_READINGS and all(isinstance(p, Reading) for p in parsed)
    # Large bodies are parsed beside the event loop, which keeps its turns meanwhile.
    assert probe.longest < LOOP_BUDGET, f"{probe.longest * 1000:.0f} ms"


@pytest.mark.parametrize(
    "body",
    [b"[" + b"{}," * 99_999 + b"{}]", b"[" + b"[]," * 99_999 + b"[]]", b"[" * 100_000],
    ids=["objects", "arrays", "brackets"],
)
async def test_a_message_of_a_hundred_thousand_containers_is_refused_unparsed(body):
    """Parsed, they would be as many tracked objects: the garbage collector's next full pass
    over them stalls every thread of the process for tenths of a second."""
    async with LoopProbe() as probe:
        with pytest.raises(Invalid, match="20,000 JSON objects and arrays"):
            await parse(body, NOW)
    assert probe.longest < LOOP_BUDGET, f"{probe.longest * 1000:.0f} ms"


async def test_an_empty_array_and_non_objects_are_rejected_items():
    (empty,) = await parse(b"[]", NOW)
    assert isinstance(empty, Rejected) and "empty array" in empty.reason
    items = await parse(b'[1, "x", null, [], true]', NOW)
    assert all(isinstance(i, Rejected) and "should be an object" in i.reason for i in items)


# ---- one field at a time (parse_reading on decoded items) ----------------------------------

GOOD = {"device_id": 1, "ts": 1795168800, "value": Decimal("0.5")}


def reading(**fields: Any) -> Reading | Rejected:
    """parse_reading of GOOD with some fields replaced (a field set to MISSING is left out)."""
    item = {k: v for k, v in (GOOD | fields).items() if v is not MISSING}
    return parse_reading(item, NOW)


MISSING = object()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"deviceId": 4, "timestamp": 1795168800, "measurement_value": 1}, (4, 1795168800)),
        ({"device_id": 4, "deviceId": 5, "ts": 1795168800, "value": 1}, (4, 1795168800)),
        ({"device_id": 4, "ts": 1795168800, "timestamp": 1795168801, "value": 1}, (4, 1795168800)),
        ({"device_id": 4, "ts": 1795168800, "value": 1, "unit": "kWh"}, (4, 1795168800)),
    ],
    ids=["aliases", "device-name-first", "ts-name-first", "extra-field-ignored"],
)
def test_field_names_and_their_aliases(item, expected):
    parsed = parse_reading(item, NOW)
    assert isinstance(parsed, Reading) and (parsed.device_id, parsed.ts) == expected


@pytest.mark.parametrize(
    ("device_id", "expected"),
    [
        (1, 1),
        (MAX_DEVICE_ID, MAX_DEVICE_ID),
        (Decimal("17.0"), 17),
        (Decimal("1.7E1"), 17),
    ],
)
def test_device_ids_that_are_accepted(device_id, expected):
    parsed = reading(device_id=device_id)
    assert isinstance(parsed, Reading) and parsed.device_id == expected


@pytest.mark.parametrize(
    "device_id",
    [0, -1, MAX_DEVICE_ID + 1, Decimal("17.5"), Decimal("1E+19"), "7", True, None, [7], {"id": 7}],
    ids=repr,
)
def test_device_ids_that_are_refused(device_id):
    parsed = reading(device_id=device_id)
    assert isinstance(parsed, Rejected) and "device_id must be a positive integer" in parsed.reason
    assert parsed.raw["device_id"] == device_id  # kept for the dead-letter queue


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2026-11-20T11:00:00+01:00", 1795168800),
        ("2026-11-20T05:00:00-05:00", 1795168800),
        ("2026-11-20T10:00:00.999999Z", 1795168800),
        ("2026-11-20 10:00:00Z", 1795168800),
        ("2026-11-20T10:00:00+00:00", 1795168800),
        (Decimal("1.7951688E9"), 1795168800),
        (Decimal("1795168800.999"), 1795168800),
        (EARLIEST_TS, EARLIEST_TS),
        (int(NOW) + MAX_FUTURE_SECONDS, int(NOW) + MAX_FUTURE_SECONDS),
    ],
    ids=str,
)
def test_timestamps_that_are_accepted(ts, expected):
    parsed = reading(ts=ts)
    assert isinstance(parsed, Reading) and parsed.ts == expected


@pytest.mark.parametrize(
    ("ts", "reason"),
    [
        (EARLIEST_TS - 1, "before 2000"),
        ("1999-12-31T23:59:59Z", "before 2000"),
        (0, "before 2000"),
        (-1, "before 2000"),
        (Decimal("9.9E7"), "before 2000"),
        (Decimal("-1E+11"), "before 2000"),
        (int(NOW) + MAX_FUTURE_SECONDS + 1, "future"),
        (Decimal("1E+11"), "future"),
        ("2999-01-01T00:00:00Z", "future"),
        ("2026-11-20T10:00:00", "UTC offset"),
        ("2026-11-20", "UTC offset"),
        ("20 Nov 2026 10:00 GMT", "RFC 3339"),
        ("", "RFC 3339"),
        ("2026-13-01T00:00:00Z", "RFC 3339"),
        (True, "RFC 3339 string or Unix seconds"),
        (None, "RFC 3339 string or Unix seconds"),
        ([1795168800], "RFC 3339 string or Unix seconds"),
    ],
    ids=str,
)
def test_timestamps_that_are_refused(ts, reason):
    parsed = reading(ts=ts)
    assert isinstance(parsed, Rejected) and reason in parsed.reason, parsed


@pytest.mark.parametrize(
    ("value", "mwh"),
    [
        (0, 0),
        (Decimal("-0"), 0),
        (Decimal("0.0000001"), 0),
        (Decimal("0.0000005"), 0),  # half to even: 0.5 mWh is 0
        (Decimal("0.0000015"), 2),
        (7, 7_000_000),
        (MAX_KWH, 10**15),
    ],
    ids=str,
)
def test_values_that_are_accepted(value, mwh):
    parsed = reading(value=value)
    assert isinstance(parsed, Reading) and parsed.value_mwh == mwh


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("-0.000001"), "negative"),
        (-1, "negative"),
        (MAX_KWH + 1, "implausibly large"),
        (Decimal("1E+10"), "implausibly large"),
        ("0.4", "must be a number"),
        (True, "must be a number"),
        (None, "must be a number"),
        ({"kwh": 1}, "must be a number"),
    ],
    ids=str,
)
def test_values_that_are_refused(value, reason):
    parsed = reading(value=value)
    assert isinstance(parsed, Rejected) and reason in parsed.reason, parsed


@pytest.mark.parametrize("field", ["device_id", "ts", "value"])
def test_a_missing_field_is_named(field):
    parsed = reading(**{field: MISSING})
    assert isinstance(parsed, Rejected) and parsed.reason == f"missing field {field}"


def test_the_callers_device_fills_in_only_a_missing_one():
    item = {"ts": 1795168800, "value": 1}
    assert parse_reading(item, NOW, device_id=3) == Reading(3, 1795168800, 1_000_000)
    assert parse_reading(item | {"device_id": 4}, NOW, device_id=3) == Reading(
        4, 1795168800, 1_000_000
    )
    bad = parse_reading(item | {"device_id": 0}, NOW, device_id=3)
    assert isinstance(bad, Rejected) and "device_id" in bad.reason


@pytest.mark.parametrize(
    ("mwh", "kwh"), [(0, 0.0), (1, 0.000001), (412_000, 0.412), (10**15, 1e9)], ids=str
)
def test_mwh_back_to_kwh(mwh, kwh):
    assert mwh_to_kwh(mwh) == kwh
    assert kwh_to_mwh(Decimal(str(kwh))) == mwh


def test_each_item_of_an_array_is_judged_on_its_own():
    body = json.dumps(
        [
            {"device_id": 1, "ts": 1795168800, "value": 1},
            {"device_id": 1, "ts": 1795168800, "value": -1},
            {"device_id": 2, "ts": "yesterday", "value": 1},
            {"device_id": 3, "ts": 1795168800, "value": 0.25},
        ]
    ).encode()
    items = parse_now(body, NOW)
    assert [type(i).__name__ for i in items] == ["Reading", "Rejected", "Rejected", "Reading"]
    assert items[3] == Reading(3, 1795168800, 250_000)
