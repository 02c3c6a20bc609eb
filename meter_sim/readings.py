"""Readings and messages in the server's wire format (JSON, RFC 3339 UTC, kWh)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)

MWH_PER_KWH = 1_000_000  # values are kept as integer milli-watt-hours: 6 decimals of kWh


@dataclass(frozen=True, slots=True)
class Reading:
    """One meter reading: device, UTC time in epoch seconds, value in mWh (1e-6 kWh)."""

    device_id: int
    ts: int
    value_mwh: int

    @property
    def value(self) -> float:
        """The value in kWh."""
        return self.value_mwh / MWH_PER_KWH

    def to_json(self) -> str:
        """The reading as the JSON object the server accepts."""
        return (
            f'{{"device_id": {self.device_id}, "ts": "{format_ts(self.ts)}", '
            f'"value": {format_kwh(self.value_mwh)}}}'
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One message on the wire: readings of one device and their encoded body."""

    device_id: int
    readings: tuple[Reading, ...]
    body: bytes

    @property
    def size(self) -> int:
        """How many readings the message carries."""
        return len(self.readings)


def format_ts(ts: int) -> str:
    """Epoch seconds as RFC 3339 UTC with a `Z`, e.g. `2026-11-23T10:10:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def format_kwh(value_mwh: int) -> str:
    """mWh as a JSON number of kWh with at most 6 decimals and never an exponent."""
    sign = "-" if value_mwh < 0 else ""
    whole, frac = divmod(abs(value_mwh), MWH_PER_KWH)
    decimals = f"{frac:06d}".rstrip("0") or "0"
    return f"{sign}{whole}.{decimals}"


def encode_message(readings: Sequence[Reading], *, as_array: bool) -> Message:
    """Encode readings of one device: one object, or a JSON array when batching."""
    if not readings:
        raise ValueError("a message needs at least one reading")
    device_id = readings[0].device_id
    if any(r.device_id != device_id for r in readings):
        raise ValueError("a message carries the readings of one device")
    if as_array:
        text = "[" + ", ".join(r.to_json() for r in readings) + "]"
    else:
        if len(readings) != 1:
            raise ValueError("more than one reading needs as_array=True")
        text = readings[0].to_json()
    return Message(device_id, tuple(readings), text.encode())
