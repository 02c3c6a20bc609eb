"""Hostile input over AMQP and HTTP against a real `energymon serve` process, while another
process asks /healthz every 50 ms: no answer may take 100 ms or more, every hostile message
ends in the dead-letter queue or a 4xx, and good readings still flow."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aiohttp

from energymon.ingest.amqp import REASON_HEADER
from tests.ingest.test_amqp_ingest import drain_dlq, publish

PROBE = Path(__file__).with_name("healthz_probe.py")
ROUNDS = 3
TS = '"2026-11-20T10:00:00Z"'
NESTED = "[" * 900 + "]" * 900
FIELD_VALUES = {
    "exponent": "1e300000",
    "exponent-1e6": "1e1000000",
    "negative-exponent": "-1e1000000",
    "digits-5000": "9" * 5000,
    "fraction-5000": "0." + "1" * 5000,
    "int-5000": "1" + "0" * 4999,
    "string-900k": json.dumps("2026-11-20T10:00:00Z" + "9" * 900_000),
    "nested-900": NESTED,
}


def hostile_bodies(device_id: int) -> dict[str, bytes]:
    """Every hostile value in every field, and hostile messages as a whole."""
    bodies = {}
    for field in ("device_id", "ts", "value"):
        for name, raw in FIELD_VALUES.items():
            fields = {"device_id": str(device_id), "ts": TS, "value": "1"} | {field: raw}
            text = ", ".join(f'"{k}": {v}' for k, v in fields.items())
            bodies[f"{field}:{name}"] = ("{" + text + "}").encode()
    reading = f'{{"device_id": {device_id}, "ts": {TS}, "value": 1'
    bodies |= {
        "deep-nesting": b"[" * 100_000 + b"]" * 100_000,
        "unclosed-nesting": b"[" * 100_000,
        "array-100k-numbers": b"[" + b"0," * 99_999 + b"0]",
        "array-100k-objects": b"[" + b"{}," * 99_999 + b"{}]",
        "readings-10001": b"[" + b",".join([reading.encode() + b"}"] * 10_001) + b"]",
        "duplicate-keys": (reading + ', "value": 2}').encode(),
        "nested-extra-field": (reading + f', "value": -1, "x": {NESTED}}}').encode(),
        "too-large": (reading + ', "note": "' + "x" * 1_500_000 + '"}').encode(),
    }
    return bodies


async def test_hostile_input_never_stalls_the_server(servers, rabbit, names, admin, capsys):
    server = servers()
    await server.start()
    async with aiohttp.ClientSession(server.url) as http:
        resp = await http.post(
            "/api/v1/devices",
            json={"description": "hostile", "max_hourly_kwh": 100},
            headers=admin.headers,
        )
        device = (await resp.json())["id"]
        resp = await http.post(f"/api/v1/devices/{device}/ingest-token", headers=admin.headers)
        meter = {
            "Authorization": f"Bearer {(await resp.json())['token']}",
            "Content-Type": "application/json",
        }
        bodies = hostile_bodies(device)
        good = [
            f'{{"device_id": {device}, "ts": "2026-11-20T11:{m:02d}:00Z", "value": 0.5}}'.encode()
            for m in range(2)
        ]

        probe = await asyncio.create_subprocess_exec(
            sys.executable,
            str(PROBE),
            f"{server.url}/healthz",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert probe.stdin is not None and probe.stdout is not None
        assert await asyncio.wait_for(probe.stdout.readline(), 30) == b"ready\n"

        statuses: dict[str, set[int]] = {name: set() for name in bodies}
        for _ in range(ROUNDS):
            await publish(rabbit, names, [*bodies.values(), good[0]])
            for name, body in bodies.items():
                async with http.post("/api/v1/ingest", data=body, headers=meter) as resp:
                    statuses[name].add(resp.status)
                    await resp.read()
            async with http.post("/api/v1/ingest", data=good[1], headers=meter) as resp:
                assert resp.status == 200
        letters = await drain_dlq(rabbit, names, ROUNDS * len(bodies), timeout=120)

        probe.stdin.close()
        stall = json.loads(await asyncio.wait_for(probe.stdout.read(), 30))
        await probe.wait()

        resp = await http.get(
            f"/api/v1/devices/{device}/readings",
            params={"from": "2026-11-20T00:00:00Z", "to": "2026-11-21T00:00:00Z"},
            headers=admin.headers,
        )
        stored = [r["ts"] for r in (await resp.json())["items"]]

    with capsys.disabled():
        print(f"\nhostile input ({ROUNDS} x {len(bodies)} over AMQP and HTTP), /healthz: {stall}")
    assert {n: s for n, s in statuses.items() if not s <= {400, 413, 422}} == {}
    assert statuses["too-large"] == {413}
    assert len(letters) == ROUNDS * len(bodies)
    assert all(m.headers[REASON_HEADER] for m in letters)
    assert len(stored) == 2  # the two good readings, one through each door
    assert stall["failures"] == 0
    assert stall["max_ms"] < 100, stall
