"""Strict JSON request bodies: no duplicate keys, no NaN/Infinity, valid Unicode only."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from aiohttp import web

from energymon.errors import BadRequest, DomainError

JSON_TYPES = ("application/json",)


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported Media Type"


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload Too Large"


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise BadRequest(f"duplicate key {key!r} in the JSON body")
        obj[key] = value
    return obj


def _constant(name: str) -> Any:
    raise BadRequest(f"{name} is not a JSON number")


def _number(text: str) -> float | int:
    """A JSON number with a fraction or exponent; an integer when it has no fractional part.

    JSON Schema counts 5.0 as an integer, so the server must too.
    """
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest(f"number {text[:40]} is out of range")
    exact = Decimal(text)
    # Finite as a float, so at most 309 digits before the point: int() stays cheap.
    if exact == exact.to_integral_value():
        return int(exact)
    return value


def loads_strict(text: str) -> Any:
    """Parse JSON, refusing what Python's json would let through but JSON forbids."""
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_number
        )
        # Lone surrogates (\ud800) decode to str but cannot be stored or re-encoded.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except DomainError:
        raise
    except UnicodeEncodeError:
        raise BadRequest("the JSON body contains an invalid Unicode escape") from None
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    return value


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body of a JSON request: 415 for other media types, 413 when too large.

    One `read(n)` returns only what has arrived so far, so a body sent in several TCP
    segments must be read until the end (or past the limit).
    """
    if request.content_type not in JSON_TYPES:
        raise UnsupportedMediaType("send the body as application/json")
    charset = (request.charset or "utf-8").lower()
    if charset not in {"utf-8", "utf8"}:
        raise UnsupportedMediaType("JSON bodies must be UTF-8")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")
    return b"".join(chunks)


async def read_json(request: web.Request, max_bytes: int) -> Any:
    """Read and parse a JSON body: 415 for other media types, 413 when too large, 400 when bad."""
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise BadRequest("the request body is empty: send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8") from None
    return loads_strict(text)
