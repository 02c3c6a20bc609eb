"""The one reading parser: bytes in, readings or reasons out, in bounded time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from energymon.errors import BadRequest, Invalid
from energymon.models import Reading
from energymon.services.readings import MAX_READINGS, Rejected, parse
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
