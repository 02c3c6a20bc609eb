"""What a reading is, and how raw meter input becomes one (or a reason it was refused).

Accepted shape: {"device_id": 17, "ts": "2026-11-23T10:10:00Z", "value": 0.412}, with the
aliases simple meter simulators send: deviceId, timestamp, measurement_value. `ts` is RFC 3339
with an offset, or Unix seconds; `value` is kWh. Energy is kept as integer mWh.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

MWH_PER_KWH = 1_000_000
EARLIEST_TS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
MAX_FUTURE_SECONDS = 300
MAX_KWH = Decimal(1_000_000_000)
ALIASES = {
    "device_id": ("device_id", "deviceId"),
    "ts": ("ts", "timestamp"),
    "value": ("value", "measurement_value"),
}


@dataclass(frozen=True, slots=True)
class Reading:
    """A well-formed reading: device, whole Unix second, value in mWh."""

    device_id: int
    ts: int
    value_mwh: int

    @property
    def hour_ts(self) -> int:
        # A reading exactly at hh:00:00 opens the new hour.
        return self.ts - self.ts % 3600


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that is not a reading, with the reason (and the input, for the dead-letter queue)."""

    reason: str
    raw: Any = None
    # The whole message could not be decoded: forward it as it came.
    whole_message: bool = False


def kwh_to_mwh(value: Decimal) -> int:
    return int((value * MWH_PER_KWH).to_integral_value(ROUND_HALF_EVEN))


def mwh_to_kwh(value: int) -> float:
    return value / MWH_PER_KWH


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# Numbers with a fraction become Decimal, so kWh stay exact; NaN and Infinity are refused.
_DECODER = json.JSONDecoder(parse_float=Decimal, parse_constant=_reject_constant)


def decode_json(body: bytes) -> Any:
    """Decode a message body as json.loads would (UTF-8, -16 or -32), with one decoder."""
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def _pick(item: dict[str, Any], field: str) -> Any:
    for name in ALIASES[field]:
        if name in item:
            return item[name]
    raise KeyError(field)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _parse_ts(value: Any) -> int:
    if type(value) is int:  # whole Unix seconds, the usual case
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"ts {value[:40]!r} is not an RFC 3339 timestamp") from None
        if parsed.tzinfo is None:
            raise ValueError("ts needs a UTC offset (such as Z or +01:00)")
        return math.floor(parsed.timestamp())
    if _is_number(value):
        number = Decimal(value) if not isinstance(value, Decimal) else value
        if not number.is_finite():
            raise ValueError("ts is not a finite number")
        return math.floor(number)
    raise ValueError("ts must be an RFC 3339 string or Unix seconds")


def _parse_value(value: Any) -> Decimal:
    if not _is_number(value):
        raise ValueError("value must be a number (kWh)")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise ValueError("value is not a number") from None
    if not number.is_finite():
        raise ValueError("value is not a finite number")
    if number < 0:
        raise ValueError("value must not be negative")
    if number > MAX_KWH:
        raise ValueError("value is implausibly large")
    return number


def parse_reading(item: Any, now: float, *, device_id: int | None = None) -> Reading | Rejected:
    """Validate one decoded JSON item. `device_id` fills in a missing one (HTTP ingest)."""
    if not isinstance(item, dict):
        return Rejected("a reading must be a JSON object", item)
    try:
        try:
            raw_device = _pick(item, "device_id")
        except KeyError:
            if device_id is None:
                raise
            raw_device = device_id
        if not isinstance(raw_device, int) or isinstance(raw_device, bool) or raw_device < 1:
            raise ValueError("device_id must be a positive integer")
        ts = _parse_ts(_pick(item, "ts"))
        value = _parse_value(_pick(item, "value"))
    except KeyError as exc:
        return Rejected(f"missing field {exc.args[0]}", item)
    except (ValueError, OverflowError, InvalidOperation) as exc:
        return Rejected(str(exc), item)
    if ts < EARLIEST_TS:
        return Rejected("ts is before 2000-01-01", item)
    if ts > now + MAX_FUTURE_SECONDS:
        return Rejected("ts is more than 5 minutes in the future", item)
    return Reading(raw_device, ts, kwh_to_mwh(value))


def parse_message(body: bytes, now: float) -> list[Reading | Rejected]:
    """A message holds one reading or a JSON array of readings."""
    try:
        decoded = decode_json(body)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        return [Rejected(f"not valid JSON: {exc}", None, whole_message=True)]
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items:
        return [Rejected("an empty array holds no readings", [])]
    return [parse_reading(item, now) for item in items]
