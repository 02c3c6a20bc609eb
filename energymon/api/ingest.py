"""Readings over HTTP, authenticated by a per-device ingest token, and the tokens themselves."""

from __future__ import annotations

import time

from energymon import keys
from energymon.api.jsonbody import read_body
from energymon.api.reading_schemas import IngestBody, IngestItem, IngestResult, IngestTokenOut
from energymon.api.router import ApiRouter, Call, Reply
from energymon.errors import FieldError, Invalid
from energymon.models import Reading
from energymon.services.ingest import CONFLICT, DUPLICATE, REJECTED, STORED
from energymon.services.readings import Rejected, parse

router = ApiRouter()


@router.route(
    "POST",
    "/api/v1/ingest",
    summary="Send readings",
    tag="readings",
    auth="device",
    body=IngestBody,
    raw_body=True,
    response=IngestResult,
)
async def ingest(call: Call) -> IngestResult:
    """One reading or an array. The answer comes once the readings are durable and says per
    item what happened: stored, duplicate (already stored, nothing changed), conflict (a
    different value is stored for that time; the first is kept) or rejected (with the reason).
    When every item is rejected the answer is 422. A token writes its own device only."""
    device_id = call.device_id
    assert device_id is not None
    # The same parser as the AMQP consumer's, from the same bytes: one reading, one value.
    body = await read_body(call.request, call.app[keys.CONFIG].server.max_body_bytes)
    parsed = await parse(body, time.time(), device_id=device_id)
    for index, reading in enumerate(parsed):
        if isinstance(reading, Reading) and reading.device_id != device_id:
            parsed[index] = Rejected(f"this token writes device {device_id} only")
    outcomes = await call.app[keys.INGEST].ingest(parsed)
    if all(o.status == REJECTED for o in outcomes):
        errors = [
            FieldError(
                f"[{i}]" if body.lstrip().startswith(b"[") else "body", o.reason or "rejected"
            )
            for i, o in enumerate(outcomes)
        ]
        raise Invalid("no reading was stored: " + "; ".join(e.message for e in errors[:5]), errors)
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in (STORED, DUPLICATE, CONFLICT)}
    return IngestResult(
        stored=counts[STORED],
        duplicates=counts[DUPLICATE],
        conflicts=counts[CONFLICT],
        rejected=sum(1 for o in outcomes if o.status == REJECTED),
        items=[
            IngestItem(index=i, status=o.status, reason=o.reason) for i, o in enumerate(outcomes)
        ],
    )


@router.route(
    "POST",
    "/api/v1/devices/{device_id}/ingest-token",
    summary="Create or rotate a device's ingest token",
    tag="readings",
    auth="admin",
    response=IngestTokenOut,
    status=201,
)
async def rotate_ingest_token(call: Call) -> IngestTokenOut:
    """A new token for the device, shown only in this answer; the previous one stops working."""
    device_id = call.path["device_id"]
    token = await call.app[keys.INGEST_TOKENS].rotate(call.me, device_id)
    return IngestTokenOut(device_id=device_id, token=token)


@router.route(
    "DELETE",
    "/api/v1/devices/{device_id}/ingest-token",
    summary="Revoke a device's ingest token",
    tag="readings",
    auth="admin",
    status=204,
)
async def revoke_ingest_token(call: Call) -> Reply:
    """The device's token stops working."""
    await call.app[keys.INGEST_TOKENS].revoke(call.me, call.path["device_id"])
    return Reply(204)
