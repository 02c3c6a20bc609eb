"""Migration 0006 on a database with data: today's owners keep seeing their whole history."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from energymon.storage import Database
from energymon.storage import devices as devices_store
from energymon.storage import readings as readings_store
from energymon.storage.migrate import MIGRATIONS, current_revision, head_revision, upgrade
from tests.conftest import MYSQL_HOST, MYSQL_PORT, _mysql_admin

NOW = "2026-11-30 12:00:00"


def before_0006() -> str:
    """The revision 0006 follows, whichever that is."""
    script = ScriptDirectory(str(MIGRATIONS))
    down = script.get_revision("0006").down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A database with no schema yet, on each engine."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        await db.close()
        return
    request.getfixturevalue("mysql_url")  # skips, or fails under CI, without MariaDB
    name = f"energymon_mig_{secrets.token_hex(4)}"
    await _mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    db = Database(f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}")
    try:
        yield db
    finally:
        await db.close()
        await _mysql_admin(f"DROP DATABASE IF EXISTS {name}")


async def test_upgrade_gives_every_owned_device_an_open_period_with_its_history(empty_db):
    db = empty_db
    await upgrade(db, before_0006())
    async with db.write() as conn:
        for user_id, email in ((1, "owner@example.com"), (2, "other@example.com")):
            await conn.execute(
                sa.text(
                    "INSERT INTO users (id, email, name, role, password_hash, disabled, "
                    "created_at, updated_at) VALUES (:id, :email, 'N', 'user', 'x', :no, :t, :t)"
                ),
                {"id": user_id, "email": email, "no": False, "t": NOW},
            )
        for device_id, owner in ((1, 1), (2, None), (3, 2)):
            await conn.execute(
                sa.text(
                    "INSERT INTO devices (id, description, address, max_hourly_wh, owner_id, "
                    "created_at, updated_at) VALUES (:id, 'Meter', '', 1000, :owner, :t, :t)"
                ),
                {"id": device_id, "owner": owner, "t": NOW},
            )
        # Two readings of device 1, in one hour, from long ago.
        await conn.execute(
            sa.text(
                "INSERT INTO readings (device_id, ts, value_mwh, consumption_mwh) VALUES "
                "(1, 1000000800, 250000, 250000), (1, 1000001400, 125000, 125000)"
            )
        )
        await conn.execute(sa.text("INSERT INTO hourly VALUES (1, 1000000800, 375000, 2)"))
        epoch = await devices_store.epoch(conn)

    started = int(time.time())
    await upgrade(db)
    assert await current_revision(db) == head_revision()

    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT device_id, user_id, started_ts, ended_ts, include_history "
                    "FROM device_assignments ORDER BY device_id"
                )
            )
        ).all()
        assert [(r[0], r[1], r[3], bool(r[4])) for r in rows] == [
            (1, 1, None, True),
            (3, 2, None, True),
        ]
        assert all(started <= r[2] <= time.time() + 1 for r in rows)
        owned = await devices_store.get(conn, 1)
        assert owned is not None and owned.include_history and owned.visible_from == 0
        orphan = await devices_store.get(conn, 2)
        assert orphan is not None and orphan.owner_since is None
        # What the owner saw before the upgrade they still see: the whole hour.
        assert await readings_store.hours(conn, 1, 0, 2**40, owned.visible_from) == {
            1000000800: (375000, 2)
        }
        assert await devices_store.epoch(conn) == (epoch or 0) + 1
