"""The HTTP transport against a small aiohttp server that records what it receives."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from meter_sim.http import HttpOptions, HttpSink
from meter_sim.runner import simulate
from meter_sim.scenario import Scenario
from meter_sim.schedule import parse_time
from meter_sim.stats import Stats

NOV_1 = parse_time("2026-11-01T00:00:00Z")
TOKENS = {1: "tok-one", 2: "tok-two", 3: "tok-three", 4: "tok-four"}


@dataclass
class Ingest:
    """A stand-in for the server's ingest endpoint with scripted failures."""

    requests: list[tuple[int, str, str, bytes]] = field(default_factory=list)
    fail_first: dict[int, int] = field(default_factory=dict)  # device -> 503s before success
    reject: set[int] = field(default_factory=set)  # devices answered 401
    refuse_items: bool = False  # answer 200 but refuse the first item of each request
    attempts: Counter[int] = field(default_factory=Counter)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        device = {v: k for k, v in TOKENS.items()}.get(token, 0)
        self.attempts[device] += 1
        if device in self.reject or device == 0:
            return web.json_response({"title": "Unauthorized"}, status=401)
        if self.attempts[device] <= self.fail_first.get(device, 0):
            return web.json_response({"title": "busy"}, status=503, headers={"Retry-After": "0"})
        self.requests.append((device, token, request.content_type, body))
        readings = json.loads(body)
        count = len(readings) if isinstance(readings, list) else 1
        if self.refuse_items:
            items = [{"index": 0, "status": "rejected", "reason": "ts is in the future"}] + [
                {"index": i, "status": "stored", "reason": None} for i in range(1, count)
            ]
            return web.json_response(
                {
                    "stored": count - 1,
                    "duplicates": 0,
                    "conflicts": 0,
                    "rejected": 1,
                    "items": items,
                }
            )
        return web.json_response(
            {"stored": count, "duplicates": 0, "conflicts": 0, "rejected": 0, "items": []}
        )

    def bodies(self) -> list[bytes]:
        return [r[3] for r in self.requests]


@pytest.fixture
async def ingest(aiohttp_server) -> tuple[Ingest, TestServer]:
    recorder = Ingest()
    app = web.Application()
    app.router.add_post("/api/v1/ingest", recorder.handle)
    server = await aiohttp_server(app)
    return recorder, server


async def post(scenario: Scenario, options: HttpOptions) -> Stats:
    stats = Stats()
    async with HttpSink(options, stats) as sink:
        await simulate(scenario, sink, stats, asyncio.Event())
    return stats


def base_url(server: TestServer) -> str:
    return str(server.make_url("/")).rstrip("/")


async def test_posts_each_device_with_its_token_and_the_exact_json(ingest):
    recorder, server = ingest
    scenario = Scenario(devices=(1, 2, 3), seed=3, start=NOV_1, count=20, batch=4)
    stats = await post(scenario, HttpOptions(base_url(server), TOKENS, window=8))

    want = [m.body for m in scenario.messages()]
    assert Counter(recorder.bodies()) == Counter(want)
    for device, token, content_type, body in recorder.requests:
        assert token == TOKENS[device]
        assert content_type == "application/json"
        assert {r["device_id"] for r in json.loads(body)} == {device}  # one device a request
    assert stats.confirmed == stats.sent == 60
    assert stats.messages == 15
    assert stats.failed == stats.resent == 0


async def test_5xx_is_retried_and_4xx_is_reported_not_retried(ingest, caplog):
    recorder, server = ingest
    recorder.fail_first = {1: 2}
    recorder.reject = {2}
    scenario = Scenario(devices=(1, 2), seed=3, start=NOV_1, count=3)
    stats = await post(scenario, HttpOptions(base_url(server), TOKENS, retries=5))

    assert recorder.attempts[1] == 2 + 3  # two 503s for the first reading, then one each
    assert recorder.attempts[2] == 3  # each 401 once, never again
    assert [json.loads(b)["device_id"] for b in recorder.bodies()] == [1, 1, 1]
    assert stats.confirmed == 3
    assert stats.failed == 3
    assert stats.resent == 2
    assert stats.failures == {"HTTP 401": 3}
    warnings = [r.getMessage() for r in caplog.records if "HTTP 401" in r.getMessage()]
    assert len(warnings) == 1  # reported once, counted for the rest
    assert "Unauthorized" in warnings[0]


async def test_items_the_server_refuses_are_counted_as_failed(ingest, caplog):
    recorder, server = ingest
    recorder.refuse_items = True
    scenario = Scenario(devices=(1, 2), seed=3, start=NOV_1, count=6, batch=3)
    stats = await post(scenario, HttpOptions(base_url(server), TOKENS))
    assert len(recorder.requests) == 4
    assert stats.confirmed == 8
    assert stats.failed == 4
    assert stats.failures == {"rejected by the server": 4}
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1  # reported once, counted for the rest
    assert re.fullmatch(
        r"the server refused 1 of 3 readings of device [12] \(rejected: ts is in the future\); "
        r"further refusals are counted, not shown",
        warnings[0],
    )


async def test_gives_up_after_the_retries_when_the_server_is_down():
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    scenario = Scenario(devices=(1,), seed=1, start=NOV_1, count=2)
    stats = await post(scenario, HttpOptions(f"http://127.0.0.1:{port}", TOKENS, retries=1))
    assert stats.failed == 2
    assert stats.resent == 2
    assert stats.confirmed == 0
    assert list(stats.failures) == ["ClientConnectorError"]


async def test_the_command_posts_with_tokens_from_a_file_or_the_environment(ingest, tmp_path: Path):
    recorder, server = ingest
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{d} {t}\n" for d, t in TOKENS.items()))
    common = [
        "--http",
        base_url(server),
        "--seed",
        "5",
        "--start",
        "2026-11-01T00:00:00Z",
        "--count",
        "6",
        "--speed",
        "0",
        "--batch",
        "2",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYMON_METER_")}

    async def meter(*args: str, extra_env: dict[str, str] | None = None) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meter_sim",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**env, **(extra_env or {})},
        )
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, stderr
        return stderr

    stderr = await meter("--devices", "1-3", "--tokens", str(tokens), *common)
    assert b"18 readings in 9 messages" in stderr
    scenario = Scenario(devices=(1, 2, 3), seed=5, start=NOV_1, count=6, batch=2)
    assert Counter(recorder.bodies()) == Counter(m.body for m in scenario.messages())

    recorder.requests.clear()
    await meter(
        *common,
        extra_env={
            "ENERGYMON_METER_DEVICES": "4",
            "ENERGYMON_METER_TOKENS": "4 tok-four",
        },
    )
    assert {r[1] for r in recorder.requests} == {"tok-four"}
    assert len(recorder.requests) == 3


async def test_a_rejected_token_makes_the_command_exit_1(ingest, tmp_path: Path):
    recorder, server = ingest
    recorder.reject = {1}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "meter_sim",
        "--devices",
        "1",
        "--http",
        base_url(server),
        "--start",
        "2026-11-01T00:00:00Z",
        "--count",
        "3",
        "--speed",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "ENERGYMON_METER_TOKENS": "1 tok-one"},
    )
    _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    text = stderr.decode()
    assert "HTTP 401 for device 1, not retried" in text
    assert "0 confirmed, 3 failed" in text
    assert "failed: HTTP 401 x3" in text
    assert "Traceback" not in text
