"""Device id lists such as `1-100,205`."""

from __future__ import annotations

import logging

from meter_sim.errors import UsageError

_LOGGER = logging.getLogger(__name__)

MAX_DEVICES = 1_000_000
MAX_DEVICE_ID = 2**63 - 1


def parse_device_ids(text: str) -> tuple[int, ...]:
    """Parse `1-100,205` into unique ids in the order given; raise UsageError if ill-formed."""
    seen: dict[int, None] = {}
    parts = [p.strip() for p in text.replace(" ", ",").split(",")]
    if not any(parts):
        raise UsageError("empty device id list")
    for part in parts:
        if not part:
            continue
        low_text, dash, high_text = part.partition("-")
        low = _device_id(low_text, part)
        high = _device_id(high_text, part) if dash else low
        if high < low:
            raise UsageError(f"bad device id range {part!r}: it runs backwards")
        if len(seen) + (high - low + 1) > MAX_DEVICES:
            raise UsageError(f"too many devices: at most {MAX_DEVICES:,} in one process")
        for device_id in range(low, high + 1):
            seen[device_id] = None
    return tuple(seen)


def _device_id(text: str, part: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise UsageError(f"bad device id {part!r} in the device list (expected e.g. 1-100,205)")
    value = int(text)
    if not 1 <= value <= MAX_DEVICE_ID:
        raise UsageError(f"bad device id {part!r}: ids are positive integers")
    return value
