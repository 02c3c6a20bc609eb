"""The meters the ingest path needs, cached per process and checked every batch.

A batch needs each device's kind, limit, owner and description. Reading them for every
batch costs a query returning a row per device; instead each process keeps them, and each
batch reads the device epoch (one row) in its own transaction: every change to those fields
moves the epoch on in the same transaction, so a cache filled at the epoch the batch sees is
exactly what the batch would have read. A change made anywhere therefore applies from the
next batch in every process.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.models import Device
from energymon.storage import devices as devices_store
from energymon.storage import readings as readings_store

# Enough for every device of a large installation; past it the cache starts again.
MAX_CACHED = 200_000


class MeterCache:
    """Meters by device id, valid for one device epoch."""

    def __init__(self) -> None:
        self._epoch: int | None = None
        self._meters: dict[int, Device] = {}

    async def lookup(self, conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Device]:
        """The meters of `ids` that exist, as of this transaction."""
        wanted = set(ids)
        epoch = await devices_store.epoch(conn)
        if epoch is None:  # no epoch row: nothing can be trusted, read everything
            return await readings_store.meters(conn, wanted)
        if epoch != self._epoch:  # devices changed (or the database was replaced)
            self._epoch, self._meters = epoch, {}
        cached = self._meters
        meters = {i: cached[i] for i in wanted if i in cached}
        missing = wanted - meters.keys()
        if missing:
            found = await readings_store.meters(conn, missing)
            meters.update(found)
            # Rows read at this epoch go into this epoch's cache; if another batch moved the
            # cache on meanwhile, `cached` is no longer in use and simply dropped.
            if len(cached) + len(found) > MAX_CACHED:
                cached.clear()
            cached.update(found)
        return meters
