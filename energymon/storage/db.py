"""The database handle: one async SQLAlchemy engine, tuned per engine kind."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from energymon.errors import Contention, Unavailable

_LOGGER = logging.getLogger(__name__)

# MySQL errors that mean "lost a race, run the transaction again": deadlock, lock wait timeout.
MYSQL_RETRYABLE = {1213, 1205}
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
)


def async_url(url: str) -> URL:
    """Turn a configured URL (sqlite:///..., mysql://...) into its async-driver form."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in {"mysql", "mariadb"}:
        driver = parsed.get_driver_name()
        driver = driver if driver in {"aiomysql", "asyncmy"} else "aiomysql"
        query = dict(parsed.query)
        query.setdefault("charset", "utf8mb4")
        return parsed.set(drivername=f"mysql+{driver}", query=query)
    raise ValueError(f"unsupported database URL scheme: {parsed.drivername}")


class Database:
    """An async engine plus the transaction helpers services use."""

    def __init__(
        self, url: str, *, pool_size: int = 10, echo: bool = False, busy_timeout_ms: int = 10_000
    ) -> None:
        self.url = async_url(url)
        self.kind = "sqlite" if self.url.get_backend_name() == "sqlite" else "mysql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.kind == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["pool_size"] = pool_size
        else:
            kwargs.update(pool_size=pool_size, pool_recycle=3600, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.kind == "sqlite":
            _tune_sqlite(self.engine, busy_timeout_ms)

    def display_url(self) -> str:
        """The URL with any password hidden, for logs and errors."""
        return self.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a plain transaction, for reads."""
        with _unavailable_on_outage():
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        with _unavailable_on_outage():
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(energymon_immediate=True)
                async with conn.begin():
                    yield conn

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    """A lost connection or a locked database is an outage to retry, not a bug."""
    try:
        yield
    except OperationalError as exc:
        code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
        if code in MYSQL_RETRYABLE:
            raise Contention("the database is busy; try again") from exc
        _LOGGER.warning("database unavailable: %s", exc.orig if exc.orig else exc)
        raise Unavailable("the database is unavailable; try again shortly") from exc
    except InterfaceError as exc:
        _LOGGER.warning("database unavailable: %s", exc.orig if exc.orig else exc)
        raise Unavailable("the database is unavailable; try again shortly") from exc


def _tune_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, full sync, foreign keys; and explicit BEGINs so transactions mean what they say."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module: it would otherwise
        # begin lazily and only before DML, which breaks read-then-write transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout={int(busy_timeout_ms)}"):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("energymon_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
