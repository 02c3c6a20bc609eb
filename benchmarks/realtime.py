"""scripts/bench_realtime: alert latency under ingest load, and connections one process holds.

One `energymon serve` process. A load process sends background readings (default 1,000/s,
over AMQP when RabbitMQ answers, else HTTP ingest). Then:
1. latency: an over-limit reading for a fresh device-hour is sent every `--probe-interval`;
   the time until the owner's Socket.IO client receives `alert` (p50, p99);
2. connections: `--connections` users, each with a device, connect from `--client-procs`
   client processes; one over-limit reading per device, and each client must receive its own
   alert. Server memory per connection comes from its RSS before and after connecting.
Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import socketio
import sqlalchemy as sa

from benchmarks.common import create_database, drop_database, log, rss_kb, session_tokens
from energymon.auth.tokens import TokenIssuer
from energymon.broker.topology import ROUTING_KEY, Names, declare_readings, delete_topology
from energymon.config import generate_secret
from energymon.models import Principal, Role
from energymon.services.ingest_tokens import IngestTokenService
from energymon.storage import Database

ROOT = Path(__file__).resolve().parent.parent
AMQP = os.environ.get("ENERGYMON_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
SECRET = generate_secret()  # the servers it starts get it too
HASH = "$2b$12$" + "x" * 53  # nobody logs in: connections use tokens
BACKGROUND_DEVICES = 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _broker_answers() -> bool:
    try:
        connection = await aio_pika.connect(AMQP, timeout=5)
    except Exception:
        return False
    await connection.close()
    return True


# ---- set-up ------------------------------------------------------------------------------


def _start_server(env: dict[str, str]) -> subprocess.Popen:
    server_log = (ROOT / "var" / "bench-realtime-server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "energymon", "--log-level", "WARNING", "serve"],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )


async def _users_with_devices(db: Database, count: int, prefix: str, limit_wh: int) -> list[dict]:
    """`count` users, each owning one device; straight into storage (bcrypt would take hours)."""
    now = "2026-01-01 00:00:00"
    async with db.write() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO users (email, name, role, password_hash, disabled, created_at,"
                " updated_at) VALUES (:e, :n, 'user', :h, 0, :t, :t)"
            ),
            [
                {"e": f"{prefix}{n}@bench.example", "n": f"{prefix} {n}", "h": HASH, "t": now}
                for n in range(count)
            ],
        )
        rows = await conn.execute(
            sa.text("SELECT id FROM users WHERE email LIKE :p ORDER BY id"),
            {"p": f"{prefix}%@bench.example"},
        )
        user_ids = [r[0] for r in rows]
        await conn.execute(
            sa.text(
                "INSERT INTO devices (description, address, max_hourly_wh, meter_kind, owner_id,"
                " created_at, updated_at) VALUES (:d, '', :w, 'interval', :o, :t, :t)"
            ),
            [{"d": f"{prefix} meter {u}", "w": limit_wh, "o": u, "t": now} for u in user_ids],
        )
        rows = await conn.execute(
            sa.text("SELECT id, owner_id FROM devices WHERE description LIKE :p"),
            {"p": f"{prefix} meter %"},
        )
        device_of = {r[1]: r[0] for r in rows}
        # Owners since the devices were made, seeing every hour: alerts of past hours (the
        # probes) reach them, as they would a long-standing owner.
        await conn.execute(
            sa.text(
                "INSERT INTO device_assignments (device_id, user_id, started_ts, ended_ts,"
                " include_history) VALUES (:d, :u, :s, NULL, 1)"
            ),
            [{"d": d, "u": u, "s": 1_767_225_600} for u, d in device_of.items()],
        )
    issuer = TokenIssuer(SECRET, 6 * 3600)
    tokens = await session_tokens(db, issuer, [(u, Role.USER) for u in user_ids])
    return [
        {"user_id": u, "device_id": device_of[u], "token": token}
        for u, token in zip(user_ids, tokens, strict=True)
    ]


async def _ingest_tokens(db: Database, devices: list[int]) -> dict[int, str]:
    service = IngestTokenService(db)
    operator = Principal(user_id=0, email="bench", role=Role.ADMIN)
    return {d: await service.rotate(operator, d) for d in devices}


# ---- sending readings --------------------------------------------------------------------


class Sender:
    """Readings into energymon: AMQP (the readings exchange) or HTTP ingest."""

    def __init__(self, mode: str, url: str, names: Names, tokens: dict[int, str]) -> None:
        self.mode, self.url, self.names, self.tokens = mode, url, names, tokens
        self._session: aiohttp.ClientSession | None = None
        # Requests at once: each is a transaction, and SQLite has one writer.
        self._requests = asyncio.Semaphore(8)
        self._connection: Any = None
        self._exchange: Any = None

    async def __aenter__(self) -> Sender:
        if self.mode == "amqp":
            self._connection = await aio_pika.connect(AMQP)
            channel = await self._connection.channel(publisher_confirms=False)
            self._exchange = await channel.get_exchange(self.names.exchange)
        else:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, force_close=False)
            )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._session is not None:
            await self._session.close()

    async def send(self, readings: list[dict]) -> None:
        """Readings of any devices: AMQP in one message; HTTP one request per device."""
        if self.mode == "amqp":
            await self._exchange.publish(
                aio_pika.Message(json.dumps(readings).encode()), routing_key=ROUTING_KEY
            )
            return
        assert self._session is not None
        per_device: dict[int, list[dict]] = {}
        for r in readings:
            per_device.setdefault(r["device_id"], []).append(r)
        await asyncio.gather(*(self._post(d, rs) for d, rs in per_device.items()))

    async def _post(self, device_id: int, readings: list[dict]) -> None:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self.tokens[device_id]}"}
        async with (
            self._requests,
            self._session.post(f"{self.url}/api/v1/ingest", json=readings, headers=headers) as resp,
        ):
            if resp.status != 200:
                raise RuntimeError(f"ingest answered {resp.status}: {await resp.text()}")


def _load_process(
    mode: str, url: str, namespace: str, tokens: dict[int, str], rate: int, conn: Any
) -> None:
    """Background readings at `rate` per second until told to stop; reports what it sent."""
    asyncio.run(_load(mode, url, Names(namespace), tokens, rate, conn))


async def _load(
    mode: str, url: str, names: Names, tokens: dict[int, str], rate: int, conn: Any
) -> None:
    devices = sorted(tokens)
    next_ts = dict.fromkeys(devices, int(time.time()) - 30 * 86400)
    tick = 0.05  # 20 sends a second
    per_tick = max(1, round(rate * tick))
    # AMQP: single-reading messages, like meters send. HTTP: a few devices a tick, each
    # posting several readings in one request (a token writes its own device only).
    per_request = 1 if mode == "amqp" else 10
    sent, turn = 0, 0
    in_flight = asyncio.Semaphore(16)
    pending: set[asyncio.Task[None]] = set()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_reader(conn.fileno(), stop.set)
    async with Sender(mode, url, names, tokens) as sender:
        began = time.perf_counter()
        next_at = began
        while not stop.is_set():
            batch = []
            for _ in range(per_tick // per_request):
                device = devices[turn % len(devices)]
                turn += 1
                for _ in range(per_request):
                    batch.append({"device_id": device, "ts": next_ts[device], "value": 0.01})
                    next_ts[device] += 1
            if mode == "amqp":
                await asyncio.gather(*(sender.send([r]) for r in batch))
            else:
                # Requests overlap (like many meters); a slow answer does not slow the rest.
                await in_flight.acquire()
                task = asyncio.create_task(sender.send(batch))
                task.add_done_callback(lambda _t: in_flight.release())
                pending.add(task)
                task.add_done_callback(pending.discard)
            sent += len(batch)
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.gather(*pending, return_exceptions=True)
        elapsed = time.perf_counter() - began
    conn.recv()
    conn.send({"sent": sent, "seconds": elapsed})


# ---- clients -----------------------------------------------------------------------------


def _client_process(url: str, owners: list[dict], conn: Any) -> None:
    asyncio.run(_clients(url, owners, conn))


async def _clients(url: str, owners: list[dict], conn: Any) -> None:
    """Hold one connection per owner; report how many connected, then who got their alert."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    received: dict[int, float] = {}
    clients: list[socketio.AsyncClient] = []
    failures = 0
    gate = asyncio.Semaphore(25)

    async def open_one(owner: dict) -> None:
        nonlocal failures
        client = socketio.AsyncClient(reconnection=False, http_session=session)
        device = owner["device_id"]

        def alert(data: dict) -> None:
            if data.get("device_id") == device:
                received.setdefault(device, time.time())

        client.on("alert", alert)
        async with gate:
            try:
                await client.connect(
                    url, auth={"token": owner["token"]}, transports=["websocket"], wait_timeout=30
                )
                clients.append(client)
            except Exception:
                failures += 1

    await asyncio.gather(*(open_one(o) for o in owners))
    conn.send({"connected": len(clients), "failed": failures})
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(conn.fileno(), ready.set)
    await ready.wait()
    command = conn.recv()  # {"wait": seconds}
    deadline = time.time() + command["wait"]
    while time.time() < deadline and len(received) < len(clients):
        await asyncio.sleep(0.1)
    still = sum(1 for c in clients if c.connected)
    conn.send(
        {
            "received": len(received),
            "last_at": max(received.values(), default=0.0),
            "still_connected": still,
        }
    )
    loop.remove_reader(conn.fileno())
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    await session.close()


# ---- phases ------------------------------------------------------------------------------


async def _latency(url: str, probe: dict, sender: Sender, probes: int, interval: float) -> dict:
    arrived: dict[str, float] = {}
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("alert", lambda data: arrived.setdefault(data["hour"], time.perf_counter()))
    await sio.connect(url, auth={"token": probe["token"]}, transports=["websocket"])
    hour = int(time.time()) // 3600 * 3600
    sent: dict[str, float] = {}
    for i in range(probes):
        ts = hour - (i + 1) * 3600 + 60  # a fresh device-hour each time: one alert each
        key = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(ts))
        sent[key] = time.perf_counter()
        await sender.send([{"device_id": probe["device_id"], "ts": ts, "value": 5.0}])
        await asyncio.sleep(interval)
    deadline = time.perf_counter() + 10
    while len(arrived) < probes and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    await sio.disconnect()
    latencies = [(arrived[k] - t) * 1000 for k, t in sent.items() if k in arrived]
    if not latencies:
        return {"probes": probes, "received": 0}
    return {
        "probes": probes,
        "received": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(_percentile(latencies, 0.90), 1),
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1),
        "target_p99_ms": 100,
    }


async def _alerts_stored(db_url: str, count: int, t0: float, wait: float) -> float | None:
    """When the ingest path had stored every alert (what delivery cannot beat)."""
    db = Database(db_url)
    try:
        while time.time() - t0 < wait:
            async with db.read() as conn:
                stored = (await conn.execute(sa.text("SELECT COUNT(*) FROM alerts"))).scalar_one()
            if stored >= count:
                return round(time.time() - t0, 2)
            await asyncio.sleep(0.05)
    finally:
        await db.close()
    return None


async def _connections(
    url: str,
    db_url: str,
    server_pid: int,
    owners: list[dict],
    probes: int,
    sender: Sender,
    procs: int,
    wait: float,
) -> dict:
    await asyncio.sleep(1)
    rss_before = rss_kb(server_pid)
    ctx = mp.get_context("spawn")
    pipes, workers = [], []
    for k in range(procs):
        mine, theirs = ctx.Pipe()
        worker = ctx.Process(
            target=_client_process, args=(url, owners[k::procs], theirs), daemon=True
        )
        worker.start()
        pipes.append(mine)
        workers.append(worker)
    began = time.perf_counter()
    reports = [await asyncio.to_thread(p.recv) for p in pipes]
    connect_s = time.perf_counter() - began
    connected = sum(r["connected"] for r in reports)
    await asyncio.sleep(2)
    rss_after = rss_kb(server_pid)
    log(f"[connections] {connected} connected in {connect_s:.1f} s; triggering alerts")

    t0 = time.time()
    hour = int(time.time()) // 3600 * 3600
    readings = [{"device_id": o["device_id"], "ts": hour + 1, "value": 5.0} for o in owners]
    for start in range(0, len(readings), 500):
        await sender.send(readings[start : start + 500])
    trigger_s = time.time() - t0
    stored_s = await _alerts_stored(db_url, len(owners) + probes, t0, wait)
    for p in pipes:
        p.send({"wait": wait})
    results = [await asyncio.to_thread(p.recv) for p in pipes]
    for worker in workers:
        worker.join(30)
    received = sum(r["received"] for r in results)
    last = max(r["last_at"] for r in results)
    return {
        "attempted": len(owners),
        "connected": connected,
        "failed": sum(r["failed"] for r in reports),
        "connect_seconds": round(connect_s, 1),
        "received_own_alert": received,
        "still_connected": sum(r["still_connected"] for r in results),
        "seconds_to_send_the_readings": round(trigger_s, 2),
        "alerts_stored_within_s": stored_s,
        "all_alerts_within_s": round(last - t0, 2) if received else None,
        "client_processes": procs,
        "server_rss_mb_before": round(rss_before / 1024, 1),
        "server_rss_mb_after": round(rss_after / 1024, 1),
        "server_kb_per_connection": round((rss_after - rss_before) / max(1, connected), 1),
        "target_connections": 5000,
    }


async def main_async(args: argparse.Namespace) -> dict:
    (ROOT / "var").mkdir(exist_ok=True)
    mode = args.ingest
    if mode == "auto":
        mode = "amqp" if await _broker_answers() else "http"
    log(f"[setup] {args.db} database, readings over {mode}")
    db_url = await create_database(args.db, "rt")
    names = Names(f"bench-rt-{secrets.token_hex(3)}")
    db = Database(db_url)
    background = await _users_with_devices(db, BACKGROUND_DEVICES, "bg", 10**9)
    (probe,) = await _users_with_devices(db, 1, "probe", 1000)
    owners = await _users_with_devices(db, args.connections, "owner", 1000)
    tokens = {}
    if mode == "http":
        devices = [o["device_id"] for o in [*background, probe, *owners]]
        tokens = await _ingest_tokens(db, devices)
    await db.close()

    env = {
        **os.environ,
        "ENERGYMON_DATABASE_URL": db_url,
        "ENERGYMON_AUTH_JWT_SECRET": SECRET,
        "ENERGYMON_SERVER_PORT": str(_free_port()),
    }
    if mode == "amqp":
        env["ENERGYMON_BROKER_URL"] = AMQP
        env["ENERGYMON_BROKER_NAMESPACE"] = names.namespace
        connection = await aio_pika.connect(AMQP)
        async with connection:
            await declare_readings(await connection.channel(), names, 20)
    url = f"http://127.0.0.1:{env['ENERGYMON_SERVER_PORT']}"
    server = _start_server(env)
    ctx = mp.get_context("spawn")
    load_pipe, load_theirs = ctx.Pipe()
    load = None
    try:
        await _wait_ready(url, server)
        bg_tokens = {o["device_id"]: tokens.get(o["device_id"], "") for o in background}
        load = ctx.Process(
            target=_load_process,
            args=(mode, url, names.namespace, bg_tokens, args.rate, load_theirs),
            daemon=True,
        )
        load.start()
        await asyncio.sleep(3)  # the load settles
        async with Sender(mode, url, names, tokens) as sender:
            log("[latency] probing")
            latency = await _latency(url, probe, sender, args.probes, args.probe_interval)
            log(f"[latency] {json.dumps(latency)}")
            connections = await _connections(
                url,
                db_url,
                server.pid,
                owners,
                args.probes,
                sender,
                args.client_procs,
                args.wait,
            )
            log(f"[connections] {json.dumps(connections)}")
        load_pipe.send("stop")
        sent = await asyncio.to_thread(load_pipe.recv)
        load.join(10)
    finally:
        if load is not None and load.is_alive():
            load.kill()
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        if mode == "amqp":
            connection = await aio_pika.connect(AMQP)
            async with connection:
                await delete_topology(await connection.channel(), names)
        await drop_database(db_url)
    return {
        "machine": {"cores": os.cpu_count(), "db": args.db, "ingest": mode},
        "background_ingest": {
            "target_readings_per_s": args.rate,
            "achieved_readings_per_s": round(sent["sent"] / sent["seconds"], 1),
            "devices": BACKGROUND_DEVICES,
        },
        "alert_latency": latency,
        "connections": connections,
    }


async def _wait_ready(url: str, server: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError("the server exited: see var/bench-realtime-server.log")
            try:
                async with session.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="mysql")
    parser.add_argument("--ingest", choices=["auto", "amqp", "http"], default="auto")
    parser.add_argument("--rate", type=int, default=1000, help="background readings/s")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for alerts")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
