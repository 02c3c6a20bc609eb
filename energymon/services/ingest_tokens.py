"""Ingest tokens: a secret per device that lets a meter write that device's readings only."""

from __future__ import annotations

import hashlib
import secrets

from energymon.errors import NotFound, Unauthorized
from energymon.models import Principal
from energymon.services.access import require_admin
from energymon.storage import Database
from energymon.storage import devices as devices_store
from energymon.storage import ingest_tokens as tokens_store

PREFIX = "emi_"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class IngestTokenService:
    """Admins create and rotate tokens; meters present them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def rotate(self, principal: Principal, device_id: int) -> str:
        """A new token for the device, shown once; the previous one stops working."""
        require_admin(principal)
        token = PREFIX + secrets.token_urlsafe(32)
        async with self._db.write() as conn:
            if await devices_store.get(conn, device_id) is None:
                raise NotFound(f"device {device_id} not found")
            await tokens_store.replace(conn, device_id, digest(token))
        return token

    async def revoke(self, principal: Principal, device_id: int) -> None:
        require_admin(principal)
        async with self._db.write() as conn:
            if not await tokens_store.revoke(conn, device_id):
                raise NotFound(f"device {device_id} has no ingest token")

    async def device_for(self, token: str) -> int:
        """The device a token writes for; Unauthorized for an unknown token."""
        async with self._db.read() as conn:
            device_id = await tokens_store.device_for(conn, digest(token))
        if device_id is None:
            raise Unauthorized("unknown ingest token")
        return device_id
