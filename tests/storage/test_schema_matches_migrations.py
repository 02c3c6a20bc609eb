"""The migrations build exactly the schema storage/schema.py declares, on SQLite and MariaDB.

Storage writes its queries against `metadata`; the database it runs on was built by the
migrations. Alembic's `compare_metadata` lists every difference between the two (tables,
columns, types, nullability, indexes, unique and foreign keys): there must be none, so a
change to one without the other fails here rather than in production.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from energymon.storage import Database
from energymon.storage.migrate import current_revision, head_revision
from energymon.storage.schema import metadata

# Alembic's own bookkeeping table, which the declared schema rightly leaves out.
ALEMBIC_TABLE = "alembic_version"


def _include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "table" and name == ALEMBIC_TABLE)


def _differences(sync: Connection) -> list[Any]:
    context = MigrationContext.configure(
        sync,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": _include,
        },
    )
    return list(compare_metadata(context, metadata))


async def test_a_database_migrated_to_head_has_the_declared_schema(db: Database) -> None:
    """`db` is the session's database, migrated to head by the migrations alone."""
    assert await current_revision(db) == head_revision()
    async with db.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == [], "\n".join(map(str, differences))
