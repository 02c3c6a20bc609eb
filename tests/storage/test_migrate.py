"""Migration 0005 on a database at 0004 that holds rows: nothing is lost or cascaded away,
and ids are never handed out twice afterwards. On SQLite and MariaDB."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from energymon.storage import Database
from energymon.storage.migrate import current_revision, head_revision, upgrade
from tests.conftest import MYSQL_HOST, MYSQL_PORT, _mysql_admin, _mysql_reachable

ROWS = {
    "users": "INSERT INTO users (id, email, name, role, password_hash, disabled, created_at,"
    " updated_at) VALUES (1, 'a@example.com', 'A', 'admin', 'h', 0, '2026-01-01', '2026-01-01'),"
    " (7, 'u@example.com', 'U', 'user', 'h', 0, '2026-01-01', '2026-01-01')",
    "devices": "INSERT INTO devices (id, description, address, max_hourly_wh, meter_kind,"
    " owner_id, created_at, updated_at) VALUES (5, 'Meter', '', 1000, 'interval', 7,"
    " '2026-01-01', '2026-01-01')",
    "readings": "INSERT INTO readings VALUES (5, 1767225600, 2000, 2000)",
    "hourly": "INSERT INTO hourly VALUES (5, 1767225600, 2000, 1)",
    "alerts": "INSERT INTO alerts (id, device_id, hour_ts, kind, value, limit_wh, late,"
    " created_at) VALUES (3, 5, 1767225600, 'hourly_limit', 2000, 1000, 0, '2026-01-01')",
    "chat_messages": "INSERT INTO chat_messages (id, user_id, sender_id, sender_name, side,"
    " text, created_ms) VALUES (9, 7, 1, 'A', 'admin', 'hi', 1)",
    "chat_reads": "INSERT INTO chat_reads VALUES (7, 'user', 9, 7, 1)",
}


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema yet, on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    problem = _mysql_reachable()
    if problem:
        pytest.skip(problem)
    name = f"energymon_mig_{secrets.token_hex(4)}"
    await _mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        await _mysql_admin(f"DROP DATABASE IF EXISTS {name}")


async def _count(conn, table: str) -> int:  # type: ignore[no-untyped-def]
    return int((await conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())


async def test_upgrading_from_0004_keeps_every_row_and_never_reuses_ids(empty_url):
    db = Database(empty_url)
    try:
        await upgrade(db, "0004")
        async with db.write() as conn:
            for statement in ROWS.values():
                await conn.execute(sa.text(statement))
        await upgrade(db)
        assert await current_revision(db) == head_revision()
        async with db.write() as conn:
            for table in ROWS:
                assert await _count(conn, table) == 1 + (table == "users"), table
            owner = await conn.execute(sa.text("SELECT owner_id FROM devices WHERE id = 5"))
            assert owner.scalar_one() == 7  # not set to NULL by rebuilding users
            sender = await conn.execute(sa.text("SELECT sender_id FROM chat_messages"))
            assert sender.scalar_one() == 1
            # The highest ids go away; new rows never get them again.
            await conn.execute(sa.text("DELETE FROM chat_messages"))
            await conn.execute(sa.text("DELETE FROM alerts"))
            await conn.execute(sa.text("DELETE FROM devices"))
            await conn.execute(sa.text("DELETE FROM users WHERE id = 7"))
            await conn.execute(
                sa.text(
                    "INSERT INTO users (email, name, role, password_hash, disabled, created_at,"
                    " updated_at) VALUES ('n@example.com', 'N', 'user', 'h', 0, '2026-01-02',"
                    " '2026-01-02')"
                )
            )
            new_id = await conn.execute(
                sa.text("SELECT id FROM users WHERE email = 'n@example.com'")
            )
            assert new_id.scalar_one() > 7
            await conn.execute(
                sa.text(
                    "INSERT INTO devices (description, address, max_hourly_wh, meter_kind,"
                    " created_at, updated_at) VALUES ('New', '', 1, 'interval', '2026-01-02',"
                    " '2026-01-02')"
                )
            )
            device = await conn.execute(sa.text("SELECT id FROM devices"))
            assert device.scalar_one() > 5
            # Foreign keys still hold: a session of a deleted account goes with it.
            await conn.execute(
                sa.text(
                    "INSERT INTO sessions VALUES ('"
                    + "a" * 32
                    + "', 1, '2026-01-02', '2026-01-03')"
                )
            )
            await conn.execute(sa.text("DELETE FROM users WHERE id = 1"))
            assert await _count(conn, "sessions") == 0
    finally:
        await db.close()


async def test_at_head_sqlite_tables_never_reuse_ids(tmp_path: Path):
    """A later migration that rebuilds one of these tables must keep AUTOINCREMENT (Alembic's
    batch mode drops it unless `table_kwargs={"sqlite_autoincrement": True}` is passed)."""
    db = Database(f"sqlite:///{tmp_path / 'head.db'}")
    try:
        await upgrade(db)
        async with db.read() as conn:
            for table in ("users", "devices", "alerts", "chat_messages"):
                sql = await conn.execute(
                    sa.text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}
                )
                assert "AUTOINCREMENT" in sql.scalar_one(), table
    finally:
        await db.close()
