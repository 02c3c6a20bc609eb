"""The `energymon` command, run as a real process in a scratch directory."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from energymon.app import create_app
from energymon.config import load_config
from energymon.demo import DEMO_ADMIN
from tests.conftest import (
    AMQP_URL,
    IN_CI,
    JWT_SECRET,
    MYSQL_HOST,
    MYSQL_PORT,
    _migrate,
    _mysql_admin,
    _mysql_reachable,
    make_config,
)

ENERGYMON = str(Path(sys.executable).with_name("energymon"))
ADMIN_PASSWORD = "operator passphrase"
START_TIMEOUT = 30.0


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    """The caller's environment without any ENERGYMON_* setting, plus a scratch database."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYMON_")}
    clean["ENERGYMON_DATABASE_URL"] = f"sqlite:///{workdir / 'data' / 'energymon.db'}"
    clean["ENERGYMON_GRPC_PORT"] = "0"
    return clean


@pytest.fixture
async def migrated(env: dict[str, str]) -> dict[str, str]:
    """The environment, its database already migrated (in this process: quicker)."""
    await _migrate(env["ENERGYMON_DATABASE_URL"])
    return env


def run(workdir: Path, env: dict[str, str], *args: str, timeout: float = 60) -> Result:
    proc = subprocess.run(
        [ENERGYMON, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: Result) -> str:
    """A failed command explains itself in one `energymon: ...` line, without a traceback."""
    assert result.code != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    last = result.error_lines[-1]
    assert last.startswith("energymon: "), result.stderr
    return last


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- migrate and create-admin ----------------------------------------------------------------


def test_migrate_creates_the_schema_and_is_idempotent(workdir, env):
    first = run(workdir, env, "migrate")
    assert first.code == 0, first.stderr
    assert "schema none -> " in first.stdout
    assert (workdir / "data" / "energymon.db").exists()

    second = run(workdir, env, "migrate")
    assert second.code == 0, second.stderr
    head = first.stdout.strip().rsplit(" ", 1)[-1]
    assert f"schema {head} -> {head}" in second.stdout


async def test_create_admin_who_can_log_in(workdir, migrated, aiohttp_client):
    env = migrated
    result = run(
        workdir,
        {**env, "ENERGYMON_ADMIN_PASSWORD": ADMIN_PASSWORD},
        "create-admin",
        "--email",
        "Ops@Example.com",
        "--name",
        "Ops",
    )
    assert result.code == 0, result.stderr
    assert "admin ops@example.com created" in result.stdout

    client = await aiohttp_client(create_app(make_config(env["ENERGYMON_DATABASE_URL"])))
    resp = await client.post(
        "/api/v1/auth/login", json={"email": "ops@example.com", "password": ADMIN_PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["user"]["role"] == "admin"
    assert body["user"]["name"] == "Ops"
    token = body["access_token"]
    resp = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert [u["email"] for u in (await resp.json())["items"]] == ["ops@example.com"]


def test_create_admin_twice_is_one_line(workdir, migrated):
    env = {**migrated, "ENERGYMON_ADMIN_PASSWORD": ADMIN_PASSWORD}
    assert run(workdir, env, "create-admin", "--email", "ops@example.com").code == 0
    result = run(workdir, env, "create-admin", "--email", "OPS@example.com")
    assert "already exists" in assert_one_line_error(result)


def test_create_admin_refuses_a_short_password(workdir, migrated):
    result = run(
        workdir,
        {**migrated, "ENERGYMON_ADMIN_PASSWORD": "short"},
        "create-admin",
        "--email",
        "a@b.co",
    )
    assert "at least 8 characters" in assert_one_line_error(result)


def test_create_admin_on_an_unmigrated_database(workdir, env):
    result = run(
        workdir,
        {**env, "ENERGYMON_ADMIN_PASSWORD": ADMIN_PASSWORD},
        "create-admin",
        "--email",
        "ops@example.com",
    )
    assert "energymon migrate" in assert_one_line_error(result)


# ---- serve refuses to start, clearly ---------------------------------------------------------


def test_serve_without_a_secret(workdir, env):
    result = run(workdir, env, "serve", "--port", str(free_port()))
    line = assert_one_line_error(result)
    assert result.error_lines == [line]
    assert line.startswith("energymon: auth.jwt_secret: ")


def test_serve_on_an_unmigrated_database(workdir, env):
    env = {**env, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    result = run(workdir, env, "serve", "--port", str(free_port()))
    assert "run `energymon migrate`" in assert_one_line_error(result)


def test_serve_on_an_unreachable_database(workdir, env):
    env = {
        **env,
        "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET,
        "ENERGYMON_DATABASE_URL": f"mysql://root@127.0.0.1:{free_port()}/energymon",
    }
    result = run(workdir, env, "serve", "--port", str(free_port()))
    assert "cannot use the database" in assert_one_line_error(result)
    result = run(workdir, env, "migrate")
    assert "cannot use the database" in assert_one_line_error(result)


# What a stop logs, one line a resource, once it has closed.
STOPPED = re.compile(r"energymon\.lifecycle: stopped (.+)$", re.MULTILINE)


def stopped(result: Result) -> list[str]:
    return STOPPED.findall(result.stderr)


@contextmanager
def a_taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_serve_on_a_port_in_use(workdir, migrated):
    env = {**migrated, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    with a_taken_port() as port:
        result = run(workdir, env, "serve", "--port", str(port))
    line = assert_one_line_error(result)
    assert line == f"energymon: cannot listen for HTTP on 127.0.0.1:{port}: address already in use"
    # Everything had started before the HTTP port was bound: everything is closed again.
    assert stopped(result) == [
        "gRPC server",
        "ingest bus",
        "realtime",
        "event hub",
        "services",
        "published-password check",
        "database",
    ]


def test_serve_on_a_grpc_port_in_use(workdir, migrated):
    env = {**migrated, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    with a_taken_port() as grpc_port:
        result = run(
            workdir, {**env, "ENERGYMON_GRPC_PORT": str(grpc_port)}, "serve", "--port", "0"
        )
    line = assert_one_line_error(result)
    assert line == (
        f"energymon: cannot listen for gRPC on 127.0.0.1:{grpc_port}: address already in use"
    )
    assert stopped(result) == [
        "ingest bus",
        "realtime",
        "event hub",
        "services",
        "published-password check",
        "database",
    ]


def test_serve_with_a_broker_that_never_answers_gives_up_in_one_line(workdir, migrated):
    env = {**migrated, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    # A socket that takes connections (the kernel's backlog) and never says a word.
    with a_taken_port() as silent:
        env["ENERGYMON_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:{silent}/"
        env["ENERGYMON_BROKER_CONNECT_TIMEOUT_S"] = "1.5"
        result = run(workdir, env, "serve", "--port", "0", timeout=30)
    line = assert_one_line_error(result)
    assert line == f"energymon: RabbitMQ at 127.0.0.1:{silent} did not answer within 1.5 s"
    assert "guest:guest" not in result.stderr  # the password never reaches a log
    assert stopped(result) == ["services", "published-password check", "database"]


def test_serve_with_a_broker_on_a_grpc_port_in_use_closes_the_broker(workdir, migrated, names):
    env = {
        **migrated,
        "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET,
        "ENERGYMON_BROKER_URL": AMQP_URL,
        "ENERGYMON_BROKER_NAMESPACE": names.namespace,
        "ENERGYMON_LIVE_ENABLED": "true",
    }
    with a_taken_port() as grpc_port:
        result = run(
            workdir, {**env, "ENERGYMON_GRPC_PORT": str(grpc_port)}, "serve", "--port", "0"
        )
    assert f"gRPC on 127.0.0.1:{grpc_port}" in assert_one_line_error(result)
    # The consumer, the live publisher and the hub's broker connection were closed, not left
    # to the loop's end
    # (which printed "RuntimeError: athrow(): asynchronous generator is already running").
    assert "Error" not in result.stderr.replace(result.error_lines[-1], "")
    assert stopped(result) == [
        "ingest consumer",
        "realtime",
        "live exchange",
        "event hub",
        "services",
        "published-password check",
        "database",
    ]


@pytest.mark.parametrize("how", ["--config", "ENERGYMON_CONFIG", "./config.toml"])
def test_a_bad_config_file_is_one_line_naming_the_key(workdir, env, how):
    path = workdir / ("config.toml" if how == "./config.toml" else "custom.toml")
    path.write_text('[server]\nport = 8080\n\n[auth]\njwt_secrt = "typo"\n', encoding="utf-8")
    args = ["migrate"]
    if how == "--config":
        args = ["--config", str(path), *args]
    elif how == "ENERGYMON_CONFIG":
        env = {**env, "ENERGYMON_CONFIG": str(path)}
    result = run(workdir, env, *args)
    assert result.error_lines == ["energymon: auth.jwt_secrt: unknown key"]


def test_a_missing_config_file_is_one_line(workdir, env):
    result = run(workdir, env, "--config", "absent.toml", "migrate")
    assert "absent.toml: no such config file" in assert_one_line_error(result)


def test_a_bad_port_option_is_one_line(workdir, env):
    result = run(
        workdir, {**env, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}, "serve", "--port", "70000"
    )
    assert assert_one_line_error(result).startswith("energymon: server.port: ")


# ---- serve for real --------------------------------------------------------------------------


@asynccontextmanager
async def serving(
    workdir: Path, env: dict[str, str], *args: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """Run `energymon serve ...`, yield it and its stdout lines once /healthz answers."""
    log = (workdir / "serve.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        ENERGYMON, "serve", *args, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=log
    )
    lines: list[str] = []

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            lines.append(raw.decode().rstrip("\n"))

    reader = asyncio.create_task(pump())
    try:
        yield proc, lines
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        await reader
        log.close()


async def wait_until_up(proc: asyncio.subprocess.Process, base: str, workdir: Path) -> None:
    async with aiohttp.ClientSession() as session:
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            if proc.returncode is not None:
                raise AssertionError((workdir / "serve.log").read_text())
            try:
                async with session.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "the server did not start"
            await asyncio.sleep(0.1)


async def login(base: str, email: str, password: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": password}
        ) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        token = body["access_token"]
        async with session.get(
            f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


async def test_serve_demo_prints_credentials_that_log_in(workdir, env):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serving(workdir, env, "--demo", "--port", str(port)) as (proc, lines):
        await wait_until_up(proc, base, workdir)
        banner = "\n".join(lines)
        assert base in banner
        found = re.search(r"admin:\s+(\S+)\s+/\s+(\S+)", banner)
        assert found, banner
        me = await login(base, found.group(1), found.group(2))
        assert me["role"] == "admin"
        assert me["email"] == found.group(1)
    assert proc.returncode is not None
    assert "Traceback" not in (workdir / "serve.log").read_text()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_stops_on_a_signal_closing_everything(workdir, migrated, signum):
    env = {**migrated, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    port = free_port()
    async with serving(workdir, env, "--port", str(port)) as (proc, _lines):
        await wait_until_up(proc, f"http://127.0.0.1:{port}", workdir)
        proc.send_signal(signum)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
    log = (workdir / "serve.log").read_text()
    assert "Traceback" not in log
    assert STOPPED.findall(log)[-1] == "database"


# ---- the same on MariaDB ---------------------------------------------------------------------


@pytest.fixture
async def mysql_cli_url() -> AsyncIterator[str]:
    """An empty MariaDB database for the CLI to migrate."""
    problem = _mysql_reachable()
    if problem:
        if IN_CI:
            pytest.fail(f"{problem}: CI must run the MariaDB tests")
        pytest.skip(problem)
    name = f"energymon_cli_{secrets.token_hex(4)}"
    await _mysql_admin(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"
    finally:
        await _mysql_admin(f"DROP DATABASE IF EXISTS {name}")


@pytest.mark.mysql
async def test_mysql_migrate_create_admin_serve_and_log_in(workdir, env, mysql_cli_url):
    env = {**env, "ENERGYMON_DATABASE_URL": mysql_cli_url, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async with serving(workdir, env, "--port", str(port)) as (proc, _lines):
        assert await asyncio.wait_for(proc.wait(), START_TIMEOUT) != 0
    assert "energymon migrate" in (workdir / "serve.log").read_text()

    for _ in range(2):
        result = run(workdir, env, "migrate")
        assert result.code == 0, result.stderr
    result = run(
        workdir,
        {**env, "ENERGYMON_ADMIN_PASSWORD": ADMIN_PASSWORD},
        "create-admin",
        "--email",
        "ops@example.com",
    )
    assert result.code == 0, result.stderr

    async with serving(workdir, env, "--port", str(port)) as (proc, _lines):
        await wait_until_up(proc, base, workdir)
        me = await login(base, "ops@example.com", ADMIN_PASSWORD)
        assert me["role"] == "admin"


# ---- the demo's published passwords and the token secret -------------------------------------


async def _login_status(base: str, email: str, password: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/api/v1/auth/login", json={"email": email, "password": password}
        ) as resp:
            return resp.status


async def test_demo_accounts_do_not_log_in_on_the_default_database_afterwards(workdir, env):
    env = {k: v for k, v in env.items() if k != "ENERGYMON_DATABASE_URL"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serving(workdir, env, "--demo", "--port", str(port)) as (proc, _lines):
        await wait_until_up(proc, base, workdir)
        assert await _login_status(base, DEMO_ADMIN.email, DEMO_ADMIN.password) == 200
    env = {**env, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    assert run(workdir, env, "migrate").code == 0
    async with serving(workdir, env, "--port", str(port)) as (proc, _lines):
        await wait_until_up(proc, base, workdir)
        assert await _login_status(base, DEMO_ADMIN.email, DEMO_ADMIN.password) == 401


async def test_serve_refuses_a_database_with_the_demo_passwords(workdir, env):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with serving(workdir, env, "--demo", "--port", str(port)) as (proc, _lines):
        await wait_until_up(proc, base, workdir)
    env = {**env, "ENERGYMON_AUTH_JWT_SECRET": JWT_SECRET}
    result = run(workdir, env, "serve", "--port", str(port))
    line = assert_one_line_error(result)
    assert DEMO_ADMIN.email in line and "published password" in line


def test_gen_secret_prints_a_secret_serve_accepts(workdir, migrated):
    result = run(workdir, migrated, "gen-secret")
    assert result.code == 0
    secret = result.stdout.strip()
    assert len(secret) >= 64 and "\n" not in secret
    assert secret != run(workdir, migrated, "gen-secret").stdout.strip()
    config = load_config(None, env={"ENERGYMON_AUTH_JWT_SECRET": secret})
    config.require_secret()


def test_serve_refuses_a_predictable_secret(workdir, migrated):
    env = {**migrated, "ENERGYMON_AUTH_JWT_SECRET": "x" * 40}
    line = assert_one_line_error(run(workdir, env, "serve", "--port", str(free_port())))
    assert line.startswith("energymon: auth.jwt_secret: ") and "gen-secret" in line
