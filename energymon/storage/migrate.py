"""Versioned schema migrations (Alembic), run programmatically over our own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from energymon.storage.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaOutOfDate(Exception):
    """The database is not at the schema version this code needs."""


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(db: Database) -> str | None:
    """The migration the database is at (None for an empty database)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    async with db.engine.connect() as conn:
        await conn.run_sync(_upgrade, revision, db.kind == "sqlite")


def _upgrade(sync: Connection, revision: str, sqlite: bool) -> None:
    if sqlite:
        # SQLite changes a table by building a new copy and dropping the old one; with
        # foreign keys on, the drop would cascade into the rows that refer to it. The pragma
        # only works outside a transaction; the keys are checked before the commit instead.
        _pragma(sync, "PRAGMA foreign_keys=OFF")
    try:
        with sync.begin():
            command.upgrade(_alembic_config(sync), revision)
            if sqlite and sync.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("the migration left rows with dangling foreign keys")
    finally:
        if sqlite:
            _pragma(sync, "PRAGMA foreign_keys=ON")


def _pragma(sync: Connection, statement: str) -> None:
    """Run a pragma on the driver connection, outside any transaction."""
    driver = sync.connection.dbapi_connection
    if driver is None:
        raise RuntimeError("the connection was closed before its pragma")
    cursor = driver.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


async def require_current(db: Database) -> None:
    """Raise SchemaOutOfDate unless the database is at the head revision."""
    current, head = await current_revision(db), head_revision()
    if current != head:
        raise SchemaOutOfDate(
            f"database {db.display_url()} is at schema {current or 'none'}, this energymon "
            f"needs {head}: run `energymon migrate`"
        )
