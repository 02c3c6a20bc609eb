"""scripts/bench_alerts: `GET /api/v1/alerts` latency with a million alerts stored. JSON out.

Fills a throwaway database (SQLite by default, `--db mysql` for a private database on the
local MariaDB) with users, devices (most of them owned, some orphans) and `--alerts` alerts
spread over a year, most of the older ones acknowledged, in a few bulk INSERT ... SELECT
statements. Then starts one `energymon serve` process from `--app-root` (this tree by
default; point it at another checkout to measure that code on the same data) and times
requests one at a time, as an admin and as a user owning a few devices: the first page, a
deep page, and the filters the endpoint takes. A deep page is reached the way the served
API pages: with `offset`, and with the `after` cursor where the API hands one out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

from benchmarks.chat import SECRET, _wait_port, free_port
from benchmarks.common import MYSQL_ROOT, VAR, log, remove_sqlite, session_tokens
from energymon.auth.passwords import hash_password_sync
from energymon.auth.tokens import TokenIssuer
from energymon.models import Role
from energymon.storage import Database
from energymon.storage.common import utcnow

ROOT = Path(__file__).resolve().parent.parent
HOURS = 365 * 24
KINDS = ("hourly_limit", "peak_power")
# The alerts of one device take every few of its (hour, kind) slots of the year.
SLOTS = HOURS * len(KINDS)
# The newest two weeks are left unacknowledged; before that, 9 in 10 alerts are.
OPEN_SECONDS = 14 * 24 * 3600

# n runs over 0 .. alerts-1: device d = n % devices, its s-th alert (s = n // devices) takes
# slot (s * SLOTS) // per_device + d % 3 (unique: slots are at least 3 apart), which gives
# the hour and the kind. Written for each engine's integer division and date functions.
_FILL = {
    "mysql": """
        INSERT INTO alerts (device_id, hour_ts, kind, value, limit_wh, late, created_at,
                            acknowledged_at)
        SELECT :first_device + n MOD :devices,
            :start + ((n DIV :devices) * :slots DIV :per_device + (n MOD :devices) MOD 3)
                DIV 2 * 3600 AS hour_ts,
            IF(((n DIV :devices) * :slots DIV :per_device + (n MOD :devices) MOD 3) MOD 2 = 0,
               'hourly_limit', 'peak_power'),
            2500000 + (n * 7919) MOD 1000000, 2000, (n * 31) MOD 50 = 0,
            FROM_UNIXTIME(:start + ((n DIV :devices) * :slots DIV :per_device
                + (n MOD :devices) MOD 3) DIV 2 * 3600 + 3600 + n MOD 600),
            IF((n * 7907) MOD 10 < 9 AND :start + ((n DIV :devices) * :slots DIV :per_device
                + (n MOD :devices) MOD 3) DIV 2 * 3600 < :open_from,
               FROM_UNIXTIME(:start + ((n DIV :devices) * :slots DIV :per_device
                + (n MOD :devices) MOD 3) DIV 2 * 3600 + 7200 + n MOD 86400), NULL)
        FROM (SELECT seq AS n FROM seq_0_to_{last}) AS numbers""",
    "sqlite": """
        WITH RECURSIVE numbers(n) AS (
            SELECT 0 UNION ALL SELECT n + 1 FROM numbers WHERE n < {last}),
        slots AS (
            SELECT n, (n / :devices) * :slots / :per_device + (n % :devices) % 3 AS slot
            FROM numbers)
        INSERT INTO alerts (device_id, hour_ts, kind, value, limit_wh, late, created_at,
                            acknowledged_at)
        SELECT :first_device + n % :devices, :start + slot / 2 * 3600,
            CASE slot % 2 WHEN 0 THEN 'hourly_limit' ELSE 'peak_power' END,
            2500000 + (n * 7919) % 1000000, 2000, (n * 31) % 50 = 0,
            datetime(:start + slot / 2 * 3600 + 3600 + n % 600, 'unixepoch'),
            CASE WHEN (n * 7907) % 10 < 9 AND :start + slot / 2 * 3600 < :open_from
                THEN datetime(:start + slot / 2 * 3600 + 7200 + n % 86400, 'unixepoch') END
        FROM slots WHERE true""",
}


async def _create(kind: str, app_root: Path) -> str:
    """An empty database, migrated by the code under test (its schema, its indexes)."""
    name = f"energymon_bench_alerts_{os.urandom(3).hex()}"
    if kind == "mysql":
        admin = Database(f"{MYSQL_ROOT}/mysql")
        try:
            async with admin.engine.connect() as conn:
                await conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        finally:
            await admin.close()
        url = f"{MYSQL_ROOT}/{name}"
    else:
        VAR.mkdir(exist_ok=True)
        url = f"sqlite:///{VAR / f'{name}.db'}"
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "energymon", "--log-level", "WARNING", "migrate"),
        cwd=app_root,
        env=_env(app_root, url),
        stdout=sys.stderr,  # stdout carries only the JSON result
    )
    if await migrate.wait() != 0:
        raise RuntimeError("energymon migrate failed")
    return url


async def _drop(url: str) -> None:
    if url.startswith("mysql"):
        admin = Database(f"{MYSQL_ROOT}/mysql")
        try:
            async with admin.engine.connect() as conn:
                await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}"))
        finally:
            await admin.close()
    else:
        remove_sqlite(url.removeprefix("sqlite:///"))


def _env(app_root: Path, url: str, http_port: int = 0, grpc_port: int = 0) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(app_root),
        "ENERGYMON_DATABASE_URL": url,
        "ENERGYMON_AUTH_JWT_SECRET": SECRET,
    }
    if http_port:
        env |= {"ENERGYMON_SERVER_PORT": str(http_port), "ENERGYMON_GRPC_PORT": str(grpc_port)}
    return env


async def _fill(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Users, devices with their assignment periods, and the alerts; returns who is who."""
    per_device = args.alerts // args.devices
    if per_device * args.devices != args.alerts or per_device * 3 > SLOTS:
        raise SystemExit("--alerts must be a multiple of --devices, at most 5,840 per device")
    db = Database(url)
    now = utcnow()
    end = int(time.time()) // 3600 * 3600
    start = end - HOURS * 3600
    try:
        async with db.write() as conn:
            password = hash_password_sync("bench-password", 4)
            people = [("admin", Role.ADMIN)] + [(f"user{i}", Role.USER) for i in range(args.users)]
            await conn.execute(
                sa.text(
                    "INSERT INTO users (email, name, role, password_hash, disabled, created_at, "
                    "updated_at) VALUES (:email, :name, :role, :pw, :no, :now, :now)"
                ),
                [
                    {"email": f"{n}@bench.example", "name": n, "role": r.value}
                    | {"pw": password, "no": False, "now": now}
                    for n, r in people
                ],
            )
            ids = dict((await conn.execute(sa.text("SELECT email, id FROM users"))).all())
            admin_id = ids["admin@bench.example"]
            user_ids = [ids[f"user{i}@bench.example"] for i in range(args.users)]
            # Devices go round the users; the last tenth has no owner.
            owned = args.devices - args.devices // 10
            owners = [
                user_ids[i % len(user_ids)] if i < owned else None for i in range(args.devices)
            ]
            await conn.execute(
                sa.text(
                    "INSERT INTO devices (description, address, max_hourly_wh, meter_kind, "
                    "owner_id, created_at, updated_at) VALUES (:d, '', 2000, 'interval', :o, "
                    ":now, :now)"
                ),
                [{"d": f"Meter {i}", "o": o, "now": now} for i, o in enumerate(owners)],
            )
            device_ids = list(
                (await conn.execute(sa.text("SELECT id FROM devices ORDER BY id"))).scalars()
            )
            # Half the owners see the whole history, the others from a quarter-year ago.
            await conn.execute(
                sa.text(
                    "INSERT INTO device_assignments (device_id, user_id, started_ts, ended_ts, "
                    "include_history) VALUES (:d, :u, :s, NULL, :h)"
                ),
                [
                    {"d": d, "u": o, "s": start + HOURS * 3600 * 3 // 4, "h": o % 2 == 0}
                    for d, o in zip(device_ids, owners, strict=True)
                    if o is not None
                ],
            )
            started = time.monotonic()
            if conn.dialect.name == "mysql":
                await conn.execute(sa.text("SET SESSION time_zone = '+00:00'"))
            await conn.execute(
                sa.text(_FILL[conn.dialect.name].format(last=args.alerts - 1)),
                {
                    "first_device": device_ids[0],
                    "devices": args.devices,
                    "slots": SLOTS,
                    "per_device": per_device,
                    "start": start,
                    "open_from": end - OPEN_SECONDS,
                },
            )
            fill_seconds = time.monotonic() - started
            if conn.dialect.name == "mysql":
                # InnoDB refreshes index statistics in the background after a bulk change; a
                # table in service has them current, so the planner sees what it would see.
                await conn.execute(sa.text("ANALYZE TABLE alerts, devices, device_assignments"))
            stored = (await conn.execute(sa.text("SELECT COUNT(*) FROM alerts"))).scalar_one()
        issuer = TokenIssuer(SECRET, 3600)
        # The user measured owns devices that see all of their history.
        user = next(u for u in user_ids if u % 2 == 0)
        admin_token, user_token = await session_tokens(
            db, issuer, [(admin_id, Role.ADMIN), (user, Role.USER)]
        )
        user_devices = [d for d, o in zip(device_ids, owners, strict=True) if o == user]
    finally:
        await db.close()
    log(f"filled {stored} alerts in {fill_seconds:.1f} s")
    return {
        "admin": admin_token,
        "user": user_token,
        "user_devices": user_devices,
        "device": device_ids[1],
        "alerts": int(stored),
        "fill_seconds": round(fill_seconds, 1),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Client:
    """Times GET /api/v1/alerts against the served process."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, requests: int, budget: float
    ) -> None:
        self.session = session
        self.base = base
        self.requests = requests
        self.budget = budget

    async def get(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        async with self.session.get(
            f"{self.base}/api/v1/alerts",
            params={k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in params.items()},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{response.status} for {params}: {body}")
            return dict(body)

    async def time(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        """p50/p99/max in ms over `requests` calls (fewer, but at least 20, when they take
        longer than the budget), after a few unmeasured ones."""
        for _ in range(3):
            page = await self.get(token, params)
        latencies: list[float] = []
        stop = time.monotonic() + self.budget
        while len(latencies) < self.requests and (len(latencies) < 20 or time.monotonic() < stop):
            started = time.perf_counter()
            await self.get(token, params)
            latencies.append((time.perf_counter() - started) * 1000)
        return {
            "params": params,
            "items": len(page["items"]),
            "requests": len(latencies),
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(_pct(latencies, 0.99), 2),
            "max_ms": round(max(latencies), 2),
        }

    async def cursor_at(self, token: str, params: dict[str, Any], depth: int) -> Any:
        """The `after` value that starts the page at position `depth`, walking the pages."""
        cursor = None
        for _ in range(depth // params["limit"]):
            page = await self.get(token, params | ({"after": cursor} if cursor else {}))
            cursor = page.get("next_after")
            if cursor is None:
                return None
        return cursor


async def _scenarios(client: Client, who: dict[str, Any], args: argparse.Namespace) -> Any:
    limit = args.limit
    results: dict[str, Any] = {}
    first = await client.get(who["admin"], {"limit": limit})
    cursor_api = "next_after" in first
    offset_api = "offset" in first

    async def run(name: str, token: str, params: dict[str, Any]) -> None:
        log(f"  {name} {params}")
        results[name] = await client.time(token, params)

    async def deep(prefix: str, token: str, params: dict[str, Any], depth: int) -> None:
        if offset_api:
            await run(f"{prefix}_deep_offset_{depth}", token, params | {"offset": depth})
        if cursor_api:
            cursor = await client.cursor_at(token, params, depth)
            if cursor is not None:
                await run(f"{prefix}_deep_cursor_{depth}", token, params | {"after": cursor})

    plain = {"limit": limit}
    await run("admin_first_page", who["admin"], plain)
    await deep("admin", who["admin"], plain, args.deep)
    await run("admin_unacknowledged", who["admin"], plain | {"unacknowledged": True})
    await run("admin_device", who["admin"], plain | {"device_id": who["device"]})
    await deep("admin_device", who["admin"], plain | {"device_id": who["device"]}, args.deep // 5)
    await run("user_first_page", who["user"], plain)
    await deep("user", who["user"], plain, args.deep // 5)
    await run("user_unacknowledged", who["user"], plain | {"unacknowledged": True})
    await run("user_device", who["user"], plain | {"device_id": who["user_devices"][0]})
    return results


async def bench(args: argparse.Namespace, app_root: Path) -> dict[str, Any]:
    url = await _create(args.db, app_root)
    try:
        who = await _fill(url, args)
        http_port, grpc_port = free_port(), free_port()
        with tempfile.TemporaryDirectory() as tmp:
            server_log = (Path(tmp) / "server.log").open("wb")
            server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
                [sys.executable, "-m", "energymon", "--log-level", "WARNING", "serve"],
                cwd=app_root,
                env=_env(app_root, url, http_port, grpc_port),
                stdout=server_log,
                stderr=subprocess.STDOUT,
            )
            try:
                await _wait_port(http_port, server)
                async with aiohttp.ClientSession() as session:
                    client = Client(
                        session, f"http://127.0.0.1:{http_port}", args.requests, args.budget
                    )
                    scenarios = await _scenarios(client, who, args)
            finally:
                server.terminate()
                try:
                    server.wait(15)
                except subprocess.TimeoutExpired:
                    server.kill()
                server_log.close()
        return {
            "db": args.db,
            "alerts": who["alerts"],
            "devices": args.devices,
            "users": args.users,
            "user_devices": len(who["user_devices"]),
            "fill_seconds": who["fill_seconds"],
            "requests_per_scenario": args.requests,
            "budget_seconds": args.budget,
            "latency": scenarios,
        }
    finally:
        await _drop(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--alerts", type=int, default=1_000_000, help="alerts stored")
    parser.add_argument("--devices", type=int, default=200, help="devices (a tenth orphans)")
    parser.add_argument("--users", type=int, default=45, help="users owning the devices")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument(
        "--budget", type=float, default=30, help="seconds per scenario before stopping early"
    )
    parser.add_argument("--limit", type=int, default=50, help="page size")
    parser.add_argument("--deep", type=int, default=10_000, help="admin deep page position")
    parser.add_argument(
        "--app-root", default=str(ROOT), help="checkout whose energymon serves (default: this)"
    )
    args = parser.parse_args()
    app_root = Path(args.app_root).resolve()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=app_root, capture_output=True, text=True
    ).stdout.strip()
    result = {"app_root": str(app_root), "app_commit": commit} | asyncio.run(bench(args, app_root))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
