"""What a reading is, and how the bytes of a message become readings (or reasons they were refused).

Accepted shape: {"device_id": 17, "ts": "2026-11-23T10:10:00Z", "value": 0.412}, with the
aliases simple meter simulators send: deviceId, timestamp, measurement_value. `ts` is RFC 3339
with an offset, or Unix seconds; `value` is kWh. Energy is kept as integer mWh.

Every way in (HTTP ingest, the AMQP consumer, the in-process bus) calls `parse` on the raw
bytes, so a reading means the same wherever it came from. Everything is bounded before it is
converted: numbers by their length in characters and then by their exponent, strings by their
length, the readings of one message by `MAX_READINGS` (and its objects and arrays by
`MAX_CONTAINERS`), nesting by the JSON decoder's depth limit.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from energymon.errors import BadRequest, Invalid
from energymon.models import Reading

MWH_PER_KWH = 1_000_000
EARLIEST_TS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
MAX_FUTURE_SECONDS = 300
MAX_KWH = Decimal(1_000_000_000)
MAX_DEVICE_ID = 2**63 - 1
# Readings in one message or request; more is refused whole, never partly stored.
MAX_READINGS = 10_000
# `{` and `[` in one message (those in strings too: counted on the bytes, before decoding).
# A reading is one object; beyond it, a message of `{},{},...` would build a third of a
# million dicts from 1 MB, and the garbage collector then stalls the whole process to scan them.
MAX_CONTAINERS = 2 * MAX_READINGS
# Characters of a JSON number: a float's repr needs 24, so 40 loses nothing a meter sends.
MAX_NUMBER_CHARS = 40
# Characters of a `ts` string: an RFC 3339 time with nanoseconds and an offset has 35.
MAX_TS_CHARS = 64
# Bodies up to this size are parsed on the event loop (a millisecond or two); larger ones
# in a worker thread.
INLINE_BYTES = 32 * 1024
ALIASES = {
    "device_id": ("device_id", "deviceId"),
    "ts": ("ts", "timestamp"),
    "value": ("value", "measurement_value"),
}
# Exact: 40 digits of kWh times 10^6 fit in 64 digits, so only the final rounding rounds.
_EXACT = Context(prec=64, rounding=ROUND_HALF_EVEN)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that is not a reading, with the reason (and the input, for the dead-letter queue)."""

    reason: str
    raw: Any = None
    # Forward the message to the dead-letter queue as it came (it could not be decoded).
    whole_message: bool = False


class MalformedMessage(BadRequest):
    """The bytes are not JSON as JSON is written: the whole message is refused."""


class TooManyReadings(Invalid):
    """A message holds more than `MAX_READINGS` readings: refused whole, never partly stored."""


class _LongNumber:
    """A JSON number too long to convert: kept as a placeholder, refused where it is used."""

    __slots__ = ("chars",)

    def __init__(self, text: str) -> None:
        self.chars = len(text)

    def __repr__(self) -> str:
        return f"<a number of {self.chars} characters>"


def kwh_to_mwh(value: Decimal) -> int:
    """Exact kWh to integer mWh, half to even: the one rounding rule of every way in."""
    if value.adjusted() < -7:  # below 0.1 mWh: zero, without quantizing a huge exponent
        return 0
    return int(_EXACT.multiply(value, MWH_PER_KWH).to_integral_value(ROUND_HALF_EVEN, _EXACT))


def mwh_to_kwh(value: int) -> float:
    return value / MWH_PER_KWH


def _float(text: str) -> Decimal | _LongNumber:
    # Decimal keeps kWh exact; building one is linear in the (bounded) text, whatever the
    # exponent. Arithmetic on a huge exponent is what is slow, so fields check it first.
    return _LongNumber(text) if len(text) > MAX_NUMBER_CHARS else Decimal(text)


def _int(text: str) -> int | _LongNumber:
    # int() of n digits costs O(n^2): never more than MAX_NUMBER_CHARS of them.
    return _LongNumber(text) if len(text) > MAX_NUMBER_CHARS else int(text)


def _constant(name: str) -> Any:
    raise MalformedMessage(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedMessage(f"duplicate key {key[:40]!r}")
            seen.add(key)
    return obj


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_constant
)


def decode(body: bytes) -> list[Any]:
    """The items of a message: one JSON value, or the elements of a JSON array.

    Raises MalformedMessage (not strict JSON in UTF-8: broken, duplicate keys, NaN, lone
    surrogates, nested past the decoder's limit) or TooManyReadings.
    """
    containers = body.count(b"{") + body.count(b"[")
    if containers > MAX_CONTAINERS:
        raise TooManyReadings(
            f"a message holds at most {MAX_READINGS:,} readings and {MAX_CONTAINERS:,} JSON "
            f"objects and arrays (brackets in strings count too), this one {containers:,}"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("the body is not valid UTF-8") from None
    if not text.strip():
        raise MalformedMessage("the body is empty: send a reading or an array of readings")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise MalformedMessage("the body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise MalformedMessage(f"the body is not valid JSON: {exc}") from None
    # A lone surrogate (\ud800) decodes to a str that cannot be stored or re-encoded; the
    # search is a fast scan, the full check runs only when an escape is there.
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedMessage("the body contains an invalid Unicode escape") from None
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_READINGS:
        raise TooManyReadings(
            f"a message holds at most {MAX_READINGS:,} readings, this one {len(items):,}"
        )
    return items


def _pick(item: dict[str, Any], field: str) -> Any:
    for name in ALIASES[field]:
        if name in item:
            return item[name]
    raise KeyError(field)


def _check_number(field: str, value: Any) -> None:
    if isinstance(value, _LongNumber):
        raise ValueError(f"{field} has more than {MAX_NUMBER_CHARS} characters")


def _parse_device(value: Any) -> int:
    _check_number("device_id", value)
    # 17.0 is an integer in JSON; a bounded exponent keeps the comparison cheap.
    if isinstance(value, Decimal) and value.adjusted() < 19 and value == value.to_integral_value():
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_DEVICE_ID:
        raise ValueError("device_id must be a positive integer")
    return value


_TOO_EARLY = "ts is before 2000-01-01"
_TOO_LATE = "ts is more than 5 minutes in the future"


def _parse_ts(value: Any, now: float) -> int:
    _check_number("ts", value)
    if type(value) is int:  # whole Unix seconds, the usual case
        ts = value
    elif isinstance(value, Decimal):
        # Range first: flooring 1e300000 would build a 300,000-digit integer. From 10^11
        # (year 5138) up, or under 10^8 (1973), the answer is known without flooring.
        if value.adjusted() > 10:
            raise ValueError(_TOO_LATE if value > 0 else _TOO_EARLY)
        ts = 0 if value.adjusted() < 8 else math.floor(value)
    elif isinstance(value, str):
        if len(value) > MAX_TS_CHARS:
            raise ValueError(f"ts {value[:40]!r}... is not an RFC 3339 timestamp")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts {value[:40]!r} is not an RFC 3339 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError("ts needs a UTC offset (such as Z or +01:00)")
        ts = math.floor(parsed.timestamp())
    else:
        raise ValueError("ts must be an RFC 3339 string or Unix seconds")
    if ts < EARLIEST_TS:
        raise ValueError(_TOO_EARLY)
    if ts > now + MAX_FUTURE_SECONDS:
        raise ValueError(_TOO_LATE)
    return ts


def _parse_value(value: Any) -> int:
    _check_number("value", value)
    if type(value) is int:
        value = Decimal(value)  # at most MAX_NUMBER_CHARS digits: cheap
    if not isinstance(value, Decimal):
        raise ValueError("value must be a number (kWh)")
    if value < 0:
        raise ValueError("value must not be negative")
    if value.adjusted() > 9 or value > MAX_KWH:
        raise ValueError("value is implausibly large")
    return kwh_to_mwh(value)


def parse_reading(item: Any, now: float, *, device_id: int | None = None) -> Reading | Rejected:
    """Validate one decoded item. `device_id` fills in a missing one (HTTP ingest)."""
    if not isinstance(item, dict):
        return Rejected("a reading should be an object", item)
    try:
        try:
            raw_device = _pick(item, "device_id")
        except KeyError:
            if device_id is None:
                raise
            raw_device = device_id
        device = _parse_device(raw_device)
        ts = _parse_ts(_pick(item, "ts"), now)
        value_mwh = _parse_value(_pick(item, "value"))
    except KeyError as exc:
        return Rejected(f"missing field {exc.args[0]}", item)
    except ValueError as exc:
        return Rejected(str(exc), item)
    return Reading(device, ts, value_mwh)


def parse_now(body: bytes, now: float, *, device_id: int | None = None) -> list[Reading | Rejected]:
    """The readings of one message (a reading or an array), each checked on its own.

    Raises MalformedMessage or TooManyReadings when the message as a whole is refused.
    """
    items = decode(body)
    if not items:
        return [Rejected("an empty array holds no readings", [])]
    return [parse_reading(item, now, device_id=device_id) for item in items]


async def parse(
    body: bytes, now: float, *, device_id: int | None = None
) -> list[Reading | Rejected]:
    """`parse_now`, off the event loop for a large body.

    Decoding 1 MB takes tens of milliseconds; in a worker thread the loop keeps its turns,
    since the decoder's hooks are Python code and so give the lock up every few ms.
    """
    if len(body) <= INLINE_BYTES:
        return parse_now(body, now, device_id=device_id)
    return await asyncio.to_thread(parse_now, body, now, device_id=device_id)
