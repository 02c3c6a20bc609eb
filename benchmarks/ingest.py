"""scripts/bench_ingest: energymon's ingest rate against a bare consumer and a naive one.

Every scenario drains a queue prefilled by publisher processes (with confirms), so the
publisher is never the bottleneck, and is measured over a steady-state window. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import sqlalchemy as sa

from benchmarks.common import create_database, drop_database, log, rss_kb
from benchmarks.publisher import prefill
from energymon.broker.topology import (
    ROUTING_KEY,
    Names,
    declare_live,
    declare_readings,
    delete_topology,
)
from energymon.config import generate_secret
from energymon.storage import Database

ROOT = Path(__file__).resolve().parent.parent
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DELIVERY_LIMIT = 20
SECRET = generate_secret()  # the servers it starts get it too


@dataclass
class Scenario:
    name: str
    consumer: str  # bare | naive | energymon
    per_message: int
    expected_rate: float  # messages/s, to size the prefill
    # energymon publishes the live exchange, drained by one consumer bound to `#`.
    live: bool = False


async def _depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def _declare(url: str, names: Names) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        await declare_readings(await connection.channel(), names, DELIVERY_LIMIT)


async def _delete(url: str, names: Names) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        await delete_topology(await connection.channel(), names)


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(
    url: str, names: Names, proc: subprocess.Popen, warmup: float, seconds: float
) -> dict:
    """Drain rate over [warmup, warmup + seconds] after the consumer starts, the consumer's
    CPU time per message over the same window, and its peak RSS."""
    start = time.perf_counter()
    rss = 0
    samples: list[tuple[float, int, float]] = []
    while True:
        now = time.perf_counter() - start
        depth = await _depth(url, names.queue)
        rss = max(rss, rss_kb(proc.pid))
        if now >= warmup:
            samples.append((now, depth, _cpu_seconds(proc.pid)))
        if now >= warmup + seconds or (samples and depth == 0):
            break
        if proc.poll() is not None:
            raise RuntimeError("the consumer exited during the run")
        await asyncio.sleep(0.5)
    (t0, d0, c0), (t1, d1, c1) = samples[0], samples[-1]
    if t1 - t0 < 5:
        raise RuntimeError("queue drained before a steady-state window: prefill more")
    return {
        "messages_per_s": round((d0 - d1) / (t1 - t0), 1),
        "window_s": round(t1 - t0, 1),
        "drained_early": d1 == 0,
        "consumer_cpu_us_per_message": round((c1 - c0) / max(d0 - d1, 1) * 1e6, 1),
        "peak_rss_mb": round(rss / 1024, 1),
    }


async def _setup_db(kind: str, devices: int) -> tuple[str, list[int]]:
    url = await create_database(kind, "ingest")
    db = Database(url)
    async with db.write() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO devices (description, address, max_hourly_wh, meter_kind, owner_id,"
                " created_at, updated_at) VALUES (:d, '', 1000000000, 'interval', NULL, :t, :t)"
            ),
            [{"d": f"bench meter {n}", "t": "2026-01-01 00:00:00"} for n in range(devices)],
        )
        ids = [r[0] for r in await conn.execute(sa.text("SELECT id FROM devices ORDER BY id"))]
    await db.close()
    return url, ids


async def _reset(url: str) -> None:
    """Empty the tables readings fill. On MariaDB by TRUNCATE: a DELETE of millions of rows
    leaves InnoDB purging in the background, which would slow the next measurement."""
    db = Database(url)
    verb = "TRUNCATE TABLE" if db.kind == "mysql" else "DELETE FROM"
    async with db.write() as conn:
        for table in ("alerts", "hourly", "readings"):
            await conn.execute(sa.text(f"{verb} {table}"))
    await db.close()


async def _preload(url: str, rows_per_device: int, end_ts: int) -> int:
    """Fill readings (and their hourly totals) with history ending before `end_ts` (MySQL)."""
    db = Database(url)
    start = end_ts - rows_per_device * 600
    start -= start % 3600
    async with db.write() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO readings (device_id, ts, value_mwh, consumption_mwh) "
                f"SELECT d.id, {start} + s.seq * 600, 100000, 100000 "
                f"FROM devices d CROSS JOIN seq_0_to_{rows_per_device - 1} s"
            )
        )
        hours = rows_per_device // 6
        await conn.execute(
            sa.text(
                "INSERT INTO hourly (device_id, hour_ts, total_mwh, readings) "
                f"SELECT d.id, {start} + s.seq * 3600, 600000, 6 "
                f"FROM devices d CROSS JOIN seq_0_to_{hours - 1} s"
            )
        )
        count = (await conn.execute(sa.text("SELECT COUNT(*) FROM readings"))).scalar_one()
    await db.close()
    return int(count)


def _consumer(
    scenario: Scenario, names: Names, db_url: str, driver: str, log_path: Path
) -> subprocess.Popen:
    out = log_path.open("ab")
    if scenario.consumer == "energymon":
        url = db_url.replace("mysql://", f"mysql+{driver}://") if driver != "aiomysql" else db_url
        env = {
            **os.environ,
            "ENERGYMON_DATABASE_URL": url,
            "ENERGYMON_AUTH_JWT_SECRET": SECRET,
            "ENERGYMON_BROKER_URL": AMQP,
            "ENERGYMON_BROKER_NAMESPACE": names.namespace,
            "ENERGYMON_SERVER_PORT": "0",
            "ENERGYMON_LIVE_ENABLED": "true" if scenario.live else "false",
        }
        cmd = [sys.executable, "-m", "energymon", "--log-level", "WARNING", "serve"]
    else:
        env = dict(os.environ)
        cmd = [sys.executable, "-m", "benchmarks.consumers", scenario.consumer, AMQP, names.queue]
        if scenario.consumer == "naive":
            cmd.append(db_url.removeprefix("mysql://").replace(":3306", ""))
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def _prefill(
    scenario: Scenario, args: argparse.Namespace, ids: list[int], start_ts: int
) -> tuple[Names, float]:
    """A fresh queue holding enough messages for the scenario's whole window."""
    names = Names(f"bench-{secrets.token_hex(3)}")
    await _declare(AMQP, names)
    count = int(scenario.expected_rate * (args.warmup + args.seconds) * 1.4)
    log(f"[{scenario.name}] prefilling {count} messages of {scenario.per_message} reading(s)")
    publish_rate = await asyncio.to_thread(
        prefill,
        AMQP,
        names.exchange,
        ROUTING_KEY,
        count=count,
        per_message=scenario.per_message,
        devices=ids,
        start_ts=start_ts,
        processes=2,
    )
    return names, publish_rate


class _LiveDrain:
    """A third party bound to `#` on the live exchange, counting what it receives."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.received = 0
        self._connection: aio_pika.abc.AbstractConnection | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect(AMQP)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1000)
        exchange = await declare_live(channel, self.names)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "#")
        await queue.consume(self._count, no_ack=True)

    async def _count(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.received += 1

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


async def _consume(
    scenario: Scenario, names: Names, publish_rate: float, args: argparse.Namespace, db_url: str
) -> dict:
    """Start the scenario's consumer on its prefilled queue and measure it."""
    log_path = ROOT / "var" / f"bench-{scenario.name}.log"
    drain = _LiveDrain(names) if scenario.live else None
    if drain is not None:
        await drain.start()
    proc = _consumer(scenario, names, db_url, args.driver, log_path)
    try:
        result = await _measure(AMQP, names, proc, args.warmup, args.seconds)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if drain is not None:
            await drain.close()
    if drain is not None:
        result["live_messages_received"] = drain.received
    result["readings_per_s"] = round(result["messages_per_s"] * scenario.per_message, 1)
    result["prefill_publish_rate"] = round(publish_rate, 1)
    log(f"[{scenario.name}] {json.dumps(result)}")
    return result


async def _prepare_db(
    scenario: Scenario, args: argparse.Namespace, db_url: str, ids: list[int], start_ts: int
) -> dict:
    """Empty tables; on MariaDB the one-reading scenarios start from an hour of 10-minute
    history per device, the loaded one from `--loaded` readings."""
    if scenario.consumer == "bare":
        return {}
    await _reset(db_url)
    if scenario.per_message != 1 or args.db != "mysql":
        return {}
    loaded = scenario.name == "energymon_loaded"
    if loaded:
        log(f"preloading {args.loaded} readings")
    rows = args.loaded if loaded else 6 * len(ids)
    stored = await _preload(db_url, rows // len(ids), start_ts)
    if not loaded:
        return {}
    return {"readings_already_stored": stored, "settle_s": await _settle_mariadb()}


def _pid_of(command: str) -> int | None:
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == command:
                return int(comm.parent.name)
        except OSError:
            continue
    return None


async def _settle_mariadb(idle_share: float = 0.05, limit_s: float = 300) -> float:
    """Wait until MariaDB is idle again after a bulk load (InnoDB flushes and merges for a
    while), so the measurement sees a large table rather than the load's aftermath. Returns
    the seconds waited."""
    pid = _pid_of("mariadbd")
    if pid is None:  # not on this machine: nothing to watch
        return 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        before = _cpu_seconds(pid)
        await asyncio.sleep(2)
        if (_cpu_seconds(pid) - before) / 2 < idle_share:
            break
    waited = time.perf_counter() - started
    log(f"MariaDB settled after {waited:.0f} s")
    return round(waited, 1)


async def _round(
    scenarios: list[Scenario],
    args: argparse.Namespace,
    db_url: str,
    ids: list[int],
    start_ts: int,
) -> dict[str, dict]:
    """Prefill every scenario's queue first, then run the consumers back to back, so the
    figures compared with each other are taken minutes closer together."""
    queues: dict[str, tuple[Names, float]] = {}
    try:
        for scenario in scenarios:
            queues[scenario.name] = await _prefill(scenario, args, ids, start_ts)
        results = {}
        for scenario in scenarios:
            extra = await _prepare_db(scenario, args, db_url, ids, start_ts)
            names, rate = queues[scenario.name]
            results[scenario.name] = {
                **await _consume(scenario, names, rate, args, db_url),
                **extra,
            }
        return results
    finally:
        for names, _ in queues.values():
            await _delete(AMQP, names)


async def main_async(args: argparse.Namespace) -> dict:
    (ROOT / "var").mkdir(exist_ok=True)
    db_url, ids = await _setup_db(args.db, args.devices)
    try:
        return await _scenarios(args, db_url, ids)
    finally:
        await drop_database(db_url)


async def _scenarios(args: argparse.Namespace, db_url: str, ids: list[int]) -> dict:
    now = int(time.time())
    # Readings end before now, so none is refused as from the future.
    start_ts = now - now % 3600 - 400 * 600
    scenarios = {
        "ceiling": Scenario("ceiling", "bare", 1, 9000),
        "energymon": Scenario("energymon", "energymon", 1, 7000),
        "energymon_live": Scenario("energymon_live", "energymon", 1, 7000, live=True),
        "naive": Scenario("naive", "naive", 1, 1000),
        "energymon_batch100": Scenario("energymon_batch100", "energymon", 100, 350),
    }
    wanted = args.only.split(",") if args.only else list(scenarios)
    results: dict[str, object] = {
        "machine": {"cores": os.cpu_count(), "db": args.db, "driver": args.driver},
        "devices": args.devices,
        "steady_state_seconds": args.seconds,
        "rounds": args.rounds,
    }
    chosen = [scenarios[name] for name in wanted]
    if args.loaded and args.db == "mysql":
        chosen.append(Scenario("energymon_loaded", "energymon", 1, 7000))
    runs: dict[str, list[dict]] = {s.name: [] for s in chosen}
    for round_no in range(1, args.rounds + 1):
        if args.rounds > 1:
            log(f"round {round_no} of {args.rounds}")
        for name, result in (await _round(chosen, args, db_url, ids, start_ts)).items():
            runs[name].append(result)
    for name, measured in runs.items():
        results[name] = _median(measured)
    # Ratios are taken within each round, so a slow spell of the machine hits both sides;
    # with several rounds, the median of them.
    per_round = [
        _ratios({name: measured[r] for name, measured in runs.items()}) for r in range(args.rounds)
    ]
    ratios = {}
    for key in per_round[0]:
        each = sorted(p[key] for p in per_round)
        ratios[key] = each[(len(each) - 1) // 2]
        if args.rounds > 1:
            ratios[f"{key}_each_round"] = [p[key] for p in per_round]
    results["ratios"] = ratios
    return results


def _median(measured: list[dict]) -> dict:
    """The run with the median rate (all of them listed when there were several)."""
    ordered = sorted(measured, key=lambda r: r["readings_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(measured) > 1:
        chosen["readings_per_s_each_round"] = [r["readings_per_s"] for r in measured]
    return chosen


def _ratios(results: dict) -> dict:
    def rate(name: str) -> float | None:
        entry = results.get(name)
        return entry["readings_per_s"] if isinstance(entry, dict) else None

    out = {}
    if rate("energymon") and rate("ceiling"):
        out["energymon_vs_ceiling"] = round(rate("energymon") / rate("ceiling"), 3)
    if rate("energymon") and rate("naive"):
        out["energymon_vs_naive"] = round(rate("energymon") / rate("naive"), 2)
    if rate("energymon_live") and rate("energymon"):
        out["live_vs_plain"] = round(rate("energymon_live") / rate("energymon"), 3)
    if rate("energymon_loaded") and rate("energymon"):
        out["loaded_vs_empty"] = round(rate("energymon_loaded") / rate("energymon"), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["mysql", "sqlite"], default="mysql")
    parser.add_argument("--driver", choices=["aiomysql", "asyncmy"], default="aiomysql")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--only", help="comma-separated scenarios")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the scenarios this many times in turn and report the median of each",
    )
    parser.add_argument(
        "--loaded", type=int, default=0, help="readings stored beforehand (e.g. 10000000)"
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
