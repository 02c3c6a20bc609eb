"""`MeterCache`: meters read once per device epoch, on both engines (it runs SQL)."""

from __future__ import annotations

import sqlalchemy as sa

from energymon.services.meters import MeterCache
from energymon.storage import Database
from energymon.storage import devices as devices_store
from energymon.storage.schema import device_epoch, devices


async def _device(db: Database, limit_wh: int = 1000) -> int:
    async with db.write() as conn:
        device = await devices_store.insert(
            conn,
            description="Meter",
            address="1 Test Street",
            max_hourly_wh=limit_wh,
            owner_id=None,
        )
    return device.id


async def _limits(db: Database, cache: MeterCache, ids: list[int]) -> dict[int, int]:
    async with db.read() as conn:
        meters = await cache.lookup(conn, ids)
    return {i: m.max_hourly_wh for i, m in meters.items()}


async def _change_behind_the_caches_back(db: Database, device_id: int, limit_wh: int) -> None:
    """A change that does not move the epoch: only a cache that reads no rows misses it."""
    async with db.write() as conn:
        await conn.execute(
            devices.update().where(devices.c.id == device_id).values(max_hourly_wh=limit_wh)
        )


async def test_only_existing_meters_are_returned(db: Database) -> None:
    first, second = await _device(db, 1000), await _device(db, 2000)
    cache = MeterCache()
    assert await _limits(db, cache, [first, second, 999_999]) == {first: 1000, second: 2000}
    assert await _limits(db, cache, []) == {}


async def test_meters_are_read_once_while_the_epoch_stands_still(db: Database) -> None:
    device_id = await _device(db, 1000)
    cache = MeterCache()
    assert await _limits(db, cache, [device_id]) == {device_id: 1000}
    await _change_behind_the_caches_back(db, device_id, 5000)
    assert await _limits(db, cache, [device_id]) == {device_id: 1000}  # from the cache
    async with db.write() as conn:
        await devices_store.bump_epoch(conn)
    assert await _limits(db, cache, [device_id]) == {device_id: 5000}  # read again


async def test_a_change_through_storage_applies_from_the_next_lookup(db: Database) -> None:
    device_id = await _device(db, 1000)
    other_process = MeterCache()
    assert await _limits(db, other_process, [device_id]) == {device_id: 1000}
    async with db.write() as conn:
        await devices_store.update(conn, device_id, {"max_hourly_wh": 2500})
    assert await _limits(db, other_process, [device_id]) == {device_id: 2500}


async def test_a_deleted_meter_is_gone_from_the_next_lookup(db: Database) -> None:
    kept, deleted = await _device(db), await _device(db)
    cache = MeterCache()
    assert set(await _limits(db, cache, [kept, deleted])) == {kept, deleted}
    async with db.write() as conn:
        assert await devices_store.delete(conn, deleted)
    assert set(await _limits(db, cache, [kept, deleted])) == {kept}


async def test_a_new_meter_is_found_without_a_new_epoch(db: Database) -> None:
    cache = MeterCache()
    first = await _device(db)
    assert set(await _limits(db, cache, [first])) == {first}
    second = await _device(db, 3000)  # inserting moves no epoch: a miss reads it
    assert await _limits(db, cache, [first, second]) == {first: 1000, second: 3000}


async def test_without_an_epoch_row_nothing_is_trusted(db: Database) -> None:
    device_id = await _device(db, 1000)
    cache = MeterCache()
    async with db.write() as conn:
        (saved,) = (await conn.execute(sa.select(device_epoch))).all()
        await conn.execute(device_epoch.delete())
    try:
        assert await _limits(db, cache, [device_id]) == {device_id: 1000}
        await _change_behind_the_caches_back(db, device_id, 7000)
        assert await _limits(db, cache, [device_id]) == {device_id: 7000}
    finally:
        async with db.write() as conn:
            await conn.execute(device_epoch.insert().values(id=saved.id, epoch=saved.epoch + 1))
