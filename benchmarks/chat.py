"""scripts/bench_chat: chat delivery latency and throughput of one energymon process. JSON out.

One `energymon serve` process (SQLite by default, `--db mysql` for MariaDB) holds the open
update streams: one per user (999 users) plus one admin stream following every conversation,
1,000 in all, spread over several HTTP/2 connections. This process is the client.

- latency: an admin posts to one user's conversation at a time; the time from calling Post to
  that user's stream receiving the message (the write, the hub, the fan-out, both networks);
- throughput: posts from many users at once for a fixed time, counting messages stored per
  second and checking that the admin stream received every one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from grpclib.client import Channel
from grpclib.const import Cardinality

import energymon.rpc.gen.energymon.chat.v1 as pb
from benchmarks.common import create_database, drop_database, session_tokens
from energymon.auth.passwords import hash_password_sync
from energymon.auth.tokens import TokenIssuer
from energymon.config import generate_secret
from energymon.models import Role
from energymon.storage import Database
from energymon.storage.common import utcnow
from energymon.storage.schema import users

ROOT = Path(__file__).resolve().parent.parent
SECRET = generate_secret()  # the servers it starts get it too
SUBSCRIBE = "/energymon.chat.v1.ChatService/Subscribe"
STREAMS_PER_CONNECTION = 50


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _prepare(url: str, n_users: int) -> tuple[list[int], int]:
    """Create the users and one admin; returns their ids."""
    db = Database(url)
    try:
        pw = hash_password_sync("bench-password", 12)
        now = utcnow()
        rows = [
            {
                "email": f"user{i}@bench.example",
                "name": f"User {i}",
                "role": Role.USER.value,
                "password_hash": pw,
                "disabled": False,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(n_users)
        ]
        async with db.write() as conn:
            await conn.execute(users.insert(), rows)
            await conn.execute(
                users.insert().values(
                    email="admin@bench.example",
                    name="Operator",
                    role=Role.ADMIN.value,
                    password_hash=pw,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            result = await conn.execute(sa.select(users.c.id, users.c.role).order_by(users.c.id))
            ids = result.all()
    finally:
        await db.close()
    user_ids = [r.id for r in ids if r.role == Role.USER.value]
    admin_id = next(r.id for r in ids if r.role == Role.ADMIN.value)
    return user_ids, admin_id


class Stream:
    """One open Subscribe stream, timestamping each message when it arrives."""

    def __init__(self, channel: Channel, token: str, arrivals: dict[int, float]) -> None:
        self.channel = channel
        self.token = token
        self.arrivals = arrivals  # message id -> monotonic arrival time
        self.messages = 0
        self.opened = asyncio.Event()

    async def run(self) -> None:
        async with self.channel.request(
            SUBSCRIBE,
            Cardinality.UNARY_STREAM,
            pb.SubscribeRequest,
            pb.Update,
            metadata={"authorization": f"Bearer {self.token}"},
        ) as stream:
            await stream.send_message(pb.SubscribeRequest(), end=True)
            await stream.recv_initial_metadata()
            self.opened.set()
            async for update in stream:
                if update.is_set("message"):
                    self.messages += 1
                    self.arrivals[update.message.id] = time.monotonic()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    url = await create_database(args.db, "chat")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return await _run(args, url, Path(tmp))
    finally:
        await drop_database(url)


async def _run(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, Any]:
    user_ids, admin_id = await _prepare(url, args.streams - 1)
    issuer = TokenIssuer(SECRET, 3600)
    db = Database(url)
    try:
        accounts = [(uid, Role.USER) for uid in user_ids] + [(admin_id, Role.ADMIN)]
        *user_tokens, admin_token = await session_tokens(db, issuer, accounts)
    finally:
        await db.close()
    tokens = dict(zip(user_ids, user_tokens, strict=True))
    http_port, grpc_port = free_port(), free_port()
    env = {
        **os.environ,
        "ENERGYMON_DATABASE_URL": url,
        "ENERGYMON_AUTH_JWT_SECRET": SECRET,
        "ENERGYMON_SERVER_PORT": str(http_port),
        "ENERGYMON_GRPC_PORT": str(grpc_port),
        # The measurement posts far faster than a person: the per-account limits would
        # refuse it after the first burst.
        "ENERGYMON_LIMITS_CHAT_MESSAGES_PER_MINUTE": "100000",
        "ENERGYMON_LIMITS_CHAT_TYPING_PER_MINUTE": "100000",
    }
    log = (tmp / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measurement
        [sys.executable, "-m", "energymon", "--log-level", "WARNING", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    channels: list[Channel] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await _wait_port(grpc_port, server)
        # The streams: every user's own, and one admin stream that follows everything.
        arrivals: dict[int, dict[int, float]] = {}
        streams: dict[int, Stream] = {}
        holders = [(uid, tokens[uid]) for uid in user_ids] + [(admin_id, admin_token)]
        for i, (uid, token) in enumerate(holders):
            if i % STREAMS_PER_CONNECTION == 0:
                channels.append(Channel("127.0.0.1", grpc_port))
            arrivals[uid] = {}
            streams[uid] = Stream(channels[-1], token, arrivals[uid])
            tasks.append(asyncio.create_task(streams[uid].run()))
        await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams.values())), 120)
        open_streams = len(streams)

        post_channel = Channel("127.0.0.1", grpc_port)
        channels.append(post_channel)

        def stub(token: str) -> pb.ChatServiceStub:
            return pb.ChatServiceStub(
                post_channel, metadata={"authorization": f"Bearer {token}"}, timeout=30
            )

        admin = stub(admin_token)
        # Warm up connections and caches.
        for uid in user_ids[:20]:
            await stub(tokens[uid]).post(pb.PostRequest(type=pb.MessageType.CONTENT, text="hi"))

        # Latency: one message at a time, admin -> a random user, until the user's stream has it.
        latencies: list[float] = []
        rng = random.Random(7)
        for _ in range(args.latency_messages):
            uid = rng.choice(user_ids)
            started = time.monotonic()
            response = await admin.post(
                pb.PostRequest(
                    conversation_id=uid, type=pb.MessageType.CONTENT, text="latency probe"
                )
            )
            mid = response.message.id
            while mid not in arrivals[uid]:
                await asyncio.sleep(0.0005)
            latencies.append((arrivals[uid][mid] - started) * 1000)
            await asyncio.sleep(args.latency_gap_ms / 1000)

        # Throughput: many users post at once for a fixed time.
        admin_before = streams[admin_id].messages
        stored = 0
        deadline = time.monotonic() + args.seconds

        async def poster(uid: int) -> None:
            nonlocal stored
            s = stub(tokens[uid])
            while time.monotonic() < deadline:
                await s.post(pb.PostRequest(type=pb.MessageType.CONTENT, text="load"))
                stored += 1

        started, cpu_before = time.monotonic(), _cpu_seconds(server.pid)
        client_before = time.process_time()
        await asyncio.gather(*(poster(uid) for uid in rng.sample(user_ids, args.concurrency)))
        elapsed = time.monotonic() - started
        server_cpu = _cpu_seconds(server.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        # Every stored message must reach the admin stream (and its user's).
        settle = time.monotonic() + 30
        while streams[admin_id].messages - admin_before < stored and time.monotonic() < settle:
            await asyncio.sleep(0.05)
        delivered = streams[admin_id].messages - admin_before
        return {
            "db": args.db,
            "open_streams": open_streams,
            "connections": len(channels) - 1,
            "latency_ms": {
                "messages": len(latencies),
                "p50": round(statistics.median(latencies), 2),
                "p99": round(_pct(latencies, 0.99), 2),
                "max": round(max(latencies), 2),
                "target_p99": 50,
            },
            "throughput": {
                "seconds": round(elapsed, 2),
                "concurrent_posters": args.concurrency,
                "messages_per_second": round(stored / elapsed, 1),
                "stored": stored,
                "delivered_to_admin_stream": delivered,
                "deliveries_per_second": round(2 * stored / elapsed, 1),
                "server_cpu_percent": round(100 * server_cpu / elapsed, 1),
                "server_cpu_ms_per_message": round(1000 * server_cpu / max(stored, 1), 2),
                "client_cpu_percent": round(100 * client_cpu / elapsed, 1),
            },
        }
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for channel in channels:
            channel.close()
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


async def _wait_port(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("energymon serve exited early")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError("energymon serve did not open its gRPC port")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "mysql"], default="sqlite")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--latency-messages", type=int, default=500)
    parser.add_argument("--latency-gap-ms", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(bench(args)), indent=2))


if __name__ == "__main__":
    main()
