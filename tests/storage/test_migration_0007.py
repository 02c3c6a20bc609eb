"""Migration 0007 on a database with alerts: the alert list's indexes, as schema.py has them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from energymon.storage import alerts as alerts_store
from energymon.storage.migrate import upgrade
from energymon.storage.schema import alerts
from tests.storage.test_migration_0006 import empty_db  # noqa: F401 - the fixture

T = "2026-12-01 12:00:00"


def _indexes(conn: Any) -> dict[str, list[str]]:
    found = sa.inspect(conn).get_indexes("alerts")
    return {i["name"]: i["column_names"] for i in found if i["name"].startswith("ix_")}


async def test_upgrade_adds_the_alert_list_indexes_schema_declares(empty_db):  # noqa: F811
    db = empty_db
    await upgrade(db, "0006")
    async with db.write() as conn:
        assert await conn.run_sync(_indexes) == {}
        await conn.execute(
            sa.text(
                "INSERT INTO devices (id, description, address, max_hourly_wh, meter_kind, "
                "created_at, updated_at) VALUES (1, 'M', '', 1000, 'interval', :t, :t)"
            ),
            {"t": T},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO alerts (device_id, hour_ts, kind, value, limit_wh, late, "
                "created_at) VALUES (1, 7200, 'hourly_limit', 2000000, 1000, :no, :t)"
            ),
            {"no": False, "t": T},
        )
    await upgrade(db)
    declared = {i.name: [c.name for c in i.columns] for i in alerts.indexes}
    assert declared == {
        "ix_alerts_hour_ts_id": ["hour_ts", "id"],
        "ix_alerts_device_id_hour_ts_id": ["device_id", "hour_ts", "id"],
        "ix_alerts_acknowledged_at_hour_ts_id": ["acknowledged_at", "hour_ts", "id"],
    }
    async with db.read() as conn:
        assert await conn.run_sync(_indexes) == declared
        items, more = await alerts_store.page(
            conn, owner_id=None, device_id=None, unacknowledged=True, after=None, limit=5
        )
    assert [(a.device_id, a.hour_ts) for a in items] == [(1, 7200)] and not more
