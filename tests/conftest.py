"""Shared fixtures: the app built with create_app over SQLite and MariaDB, and test accounts."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from energymon.app import create_app
from energymon.auth.passwords import PasswordHasher, hash_password_sync
from energymon.auth.tokens import TokenIssuer
from energymon.broker.topology import Names, delete_topology
from energymon.config import Config, load_config
from energymon.models import Role, User
from energymon.storage import Database
from energymon.storage import devices as devices_store
from energymon.storage import sessions as sessions_store
from energymon.storage import users as users_store
from energymon.storage.migrate import upgrade
from energymon.storage.schema import device_epoch, metadata
from tests.brokers import RabbitNode, TlsFiles, rabbitmq_missing

MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
# The broker of the dev machine and of CI; ENERGYMON_TEST_AMQP_URL points elsewhere.
AMQP_URL = os.environ.get("ENERGYMON_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
JWT_SECRET = "test-secret-Qm8vT2kLp9ZxR4wN7cYb1HfJ6sDg3EaU0oVi5XtK"
PASSWORD = "correct horse battery staple"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# bcrypt's lowest cost: a hash takes ~1 ms instead of ~0.25 s at production's floor of 12. The
# configuration refuses anything below 12, so tests inject this hasher into create_app instead;
# `energymon serve` processes started by tests keep cost 12.
TEST_BCRYPT_ROUNDS = 4
TEST_HASHER = PasswordHasher(TEST_BCRYPT_ROUNDS)


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on its own loop, even from inside a running one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


# ---- databases -----------------------------------------------------------------------------


def _mysql_reachable() -> str | None:
    try:
        with socket.create_connection((MYSQL_HOST, MYSQL_PORT), timeout=2):
            return None
    except OSError as exc:
        return f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT} is unreachable ({exc})"


async def _mysql_admin(sql: str) -> None:
    db = Database(f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/mysql")
    try:
        async with db.engine.connect() as conn:
            await conn.execute(sa.text(sql))
    finally:
        await db.close()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A throwaway MariaDB database for this run, migrated to head."""
    problem = _mysql_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}: CI must run the MariaDB tests")
        pytest.skip(problem)
    name = f"energymon_test_{secrets.token_hex(4)}"
    run_async(_mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    url = f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    run_async(_migrate(url))
    yield url
    run_async(_mysql_admin(f"DROP DATABASE IF EXISTS {name}"))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("sqlite")) / "energymon.db"
    url = f"sqlite:///{path}"
    run_async(_migrate(url))
    return url


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()


async def _wipe(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            for table in reversed(metadata.sorted_tables):
                if table is not device_epoch:
                    await conn.execute(table.delete())
            # Ids come round again: no meter cached before the wipe may survive it.
            await devices_store.bump_epoch(conn)
            if db.kind == "sqlite":
                # Each test starts its ids at 1 again (AUTOINCREMENT remembers the highest).
                await conn.execute(sa.text("DELETE FROM sqlite_sequence"))
    finally:
        await db.close()


# Which tests run twice. Every test that reaches the database through `db_url` (directly or
# through `config`, `client`, `db`, `make_actor`...) runs once on SQLite and once on MariaDB:
# the two engines differ in locking, isolation, collation, integer and text limits, and how
# they lose contention, so whatever reads or writes through storage is proven on both.
# A test whose answer is settled before any SQL that differs per engine runs on SQLite alone,
# marked `sqlite_only`: bodies refused by the parser (415, 400, 422), headers and cookies,
# CSRF, token forgeries, the in-memory login throttle, the served OpenAPI document. (The
# token check they pass through reads the session row the same way on both engines, and
# tests that run twice cover it.) Browser tests run on SQLite only (tests/web/conftest.py).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Each test using this runs once per engine (see above), on empty tables."""
    url = request.getfixturevalue(f"{request.param}_url")
    await _wipe(url)
    yield url


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url)


def make_config(db_url: str, **sections: dict[str, Any]) -> Config:
    overrides: dict[str, dict[str, Any]] = {
        "database": {"url": db_url},
        "auth": {"jwt_secret": JWT_SECRET},
        "server": {"port": 0},
        "grpc": {"port": 0},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_config(None, env={}, overrides=overrides)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.close()


# ---- the broker ----------------------------------------------------------------------------


async def _amqp_handshake() -> None:
    connection = await aio_pika.connect(AMQP_URL, timeout=5)
    await connection.close()


def _rabbitmq_problem() -> str | None:
    """None when the broker completes an AMQP handshake: an open port alone is not enough."""
    try:
        run_async(_amqp_handshake())
    except Exception as exc:
        detail = str(exc) or "no AMQP handshake within 5 s"
        host = URL(AMQP_URL).with_password(None)
        return f"RabbitMQ at {host} does not answer ({type(exc).__name__}: {detail})"
    return None


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The broker URL; skips the test when RabbitMQ is down, fails instead under CI."""
    problem = _rabbitmq_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}: CI must run the RabbitMQ tests")
        pytest.skip(problem)
    return AMQP_URL


@pytest.fixture
def rabbit(amqp_url: str) -> str:
    """The broker URL (the suite-wide check skips, or fails under CI, when it is down)."""
    return amqp_url


@pytest.fixture
async def names(rabbit: str) -> AsyncIterator[Names]:
    """A namespace of exchanges and queues for this test alone, removed afterwards."""
    names = Names(f"test-{secrets.token_hex(4)}")
    yield names
    connection = await aio_pika.connect(rabbit, timeout=10)
    async with connection:
        await delete_topology(await connection.channel(), names)


# ---- the app and its callers ---------------------------------------------------------------


def build_app(config: Config) -> web.Application:
    """create_app with the cheap test password hasher."""
    return create_app(config, password_hasher=TEST_HASHER)


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient:
    return await aiohttp_client(build_app(config))


_HASH: dict[str, str] = {}


def password_hash() -> str:
    """One bcrypt hash of PASSWORD per run, at the test cost (a login checks it at its cost)."""
    if "h" not in _HASH:
        _HASH["h"] = hash_password_sync(PASSWORD, TEST_BCRYPT_ROUNDS)
    return _HASH["h"]


@dataclass
class Actor:
    """A test account with a valid token."""

    user: User
    token: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def new_session(db: Database, user: User, ttl_seconds: int = 3600) -> str:
    """Log `user` in straight through storage: a session row and a token naming it."""
    async with db.write() as conn:
        session_id = await sessions_store.create(
            conn, user.id, ttl_seconds=ttl_seconds, max_per_user=1000
        )
    return TokenIssuer(JWT_SECRET, ttl_seconds).issue(user.id, user.role, session_id)


def actor_factory(db: Database) -> Callable[..., Awaitable[Actor]]:
    """Create accounts straight in storage (password PASSWORD), each with a session."""
    counter = iter(range(1, 10_000))

    async def make(
        role: Role = Role.USER, *, email: str | None = None, disabled: bool = False
    ) -> Actor:
        email = email or f"{role.value}{next(counter)}@example.com"
        async with db.write() as conn:
            user = await users_store.insert(
                conn,
                email=email,
                name=email.split("@")[0].title(),
                role=role,
                password_hash=password_hash(),
                disabled=disabled,
            )
        return Actor(user, await new_session(db, user))

    return make


@pytest.fixture
def make_actor(db: Database) -> Callable[..., Awaitable[Actor]]:
    """Create an account straight in storage (password PASSWORD) and a session for it."""
    return actor_factory(db)


@pytest.fixture
async def admin(make_actor) -> Actor:
    return await make_actor(Role.ADMIN, email="admin@example.com")


@pytest.fixture
async def alice(make_actor) -> Actor:
    return await make_actor(Role.USER, email="alice@example.com")


@pytest.fixture
async def bob(make_actor) -> Actor:
    return await make_actor(Role.USER, email="bob@example.com")


@pytest.fixture
def servers(tmp_path: Path, db_url: str, rabbit: str, names: Names):
    """Start real `energymon serve` processes on the test database and RabbitMQ namespace;
    all stopped after the test."""
    from tests.processes import ServerProcess, server_env  # it imports this module

    started: list[ServerProcess] = []

    def make() -> ServerProcess:
        env = server_env(
            db_url, ENERGYMON_BROKER_URL=rabbit, ENERGYMON_BROKER_NAMESPACE=names.namespace
        )
        server = ServerProcess(env, tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


# ---- reporting -----------------------------------------------------------------------------

_ENGINE_COUNTS: Counter[tuple[str, str]] = Counter()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for engine in ("sqlite", "mysql"):
        if (
            f"[{engine}" in report.nodeid
            or f"-{engine}]" in report.nodeid
            or f"-{engine}-" in report.nodeid
        ):
            _ENGINE_COUNTS[(engine, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _ENGINE_COUNTS:
        return
    terminalreporter.section("storage and API tests per database engine")
    for engine, label in (("sqlite", "SQLite (embedded)"), ("mysql", "MariaDB 127.0.0.1:3306")):
        counts = {o: _ENGINE_COUNTS[(engine, o)] for o in ("passed", "failed", "skipped")}
        terminalreporter.write_line(
            f"{label}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )


@pytest.fixture(scope="session")
def tls_rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    """A private RabbitMQ node with a TLS listener for the whole run (see tests/brokers.py)."""
    missing = rabbitmq_missing()
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}: CI must run the TLS broker tests")
        pytest.skip(missing)
    directory = tmp_path_factory.mktemp("rabbitmq")
    node = RabbitNode(directory / "node", TlsFiles.make(directory / "certs"))
    node.start()
    try:
        yield node
    finally:
        node.stop()
