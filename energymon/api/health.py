"""Liveness and readiness for operators and orchestrators."""

from __future__ import annotations

import asyncio

from energymon import keys
from energymon.api.router import ApiRouter, Call, Reply
from energymon.api.schemas import Health

router = ApiRouter()
READY_TIMEOUT = 3.0


@router.route("GET", "/healthz", summary="Alive", tag="operations", auth="public", response=Health)
async def healthz(call: Call) -> Health:
    """The process is up and serving requests."""
    return Health(status="ok")


@router.route(
    "GET",
    "/readyz",
    summary="Ready",
    tag="operations",
    auth="public",
    response=Health,
    errors=(503,),
)
async def readyz(call: Call) -> Health | Reply:
    """The database answers; 503 while it does not."""
    try:
        await asyncio.wait_for(call.app[keys.DATABASE].ping(), READY_TIMEOUT)
    except Exception as exc:
        detail = f"database unreachable: {type(exc).__name__}"
        return Reply(503, Health(status="unavailable", detail=detail))
    return Health(status="ok")
