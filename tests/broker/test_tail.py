"""`energymon tail` as a process against the real broker: it prints what its options select."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from energymon.broker.tail import pattern
from tests.broker.conftest import HOUR_TS, meter, send


def test_the_options_make_one_binding_pattern():
    assert pattern(None, None, None) == "site.*.*.*.*"
    assert pattern(7, None, None) == "site.7.*.*.*"
    assert pattern(None, 42, "alert") == "site.*.device.42.alert"
    assert pattern(None, None, "alert") == "site.*.*.*.alert"  # site alerts too


async def _tail(tmp_path, rabbit, names, *options: str) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "ENERGYMON_BROKER_URL": rabbit,
        "ENERGYMON_BROKER_NAMESPACE": names.namespace,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "energymon", "tail", *options,
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    while True:  # bound once it says so
        line = await asyncio.wait_for(proc.stderr.readline(), 20)
        assert line, "tail exited before listening"
        if line.startswith(b"listening on "):
            return proc


async def _lines(proc: asyncio.subprocess.Process, count: int) -> list[tuple[str, dict]]:
    assert proc.stdout is not None
    got = []
    for _ in range(count):
        key, body = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode().split(" ", 1)
        got.append((key, json.loads(body)))
    return got


async def _stop(proc: asyncio.subprocess.Process) -> bytes:
    proc.terminate()
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return out


async def test_tail_prints_the_selected_device_and_kind(
    live_client, admin, rabbit, names, tmp_path
):
    pump, pump_token = await meter(live_client, admin, "Heat pump")
    oven, oven_token = await meter(live_client, admin, "Oven")
    readings = await _tail(tmp_path, rabbit, names, "--device", str(pump), "--kind", "reading")
    everything = await _tail(tmp_path, rabbit, names)
    try:
        await send(live_client, oven_token, oven, [(0, 0.2)])
        await send(live_client, pump_token, pump, [(0, 0.3), (15, 0.3)])
        pump_readings = await _lines(readings, 2)
        all_lines = await _lines(everything, 5)
    finally:
        rest = await _stop(readings)
        await _stop(everything)
    assert pump_readings == [
        (f"site.none.device.{pump}.reading", {
            "version": 1, "kind": "reading", "site_id": None, "device_id": pump,
            "ts": HOUR_TS + minute * 60, "value_mwh": 300_000, "consumption_mwh": 300_000,
        })
        for minute in (0, 15)
    ]  # fmt: skip
    assert rest == b""  # nothing of the oven, nor the hour totals
    assert sorted(key for key, _ in all_lines) == sorted(
        [
            f"site.none.device.{oven}.reading",
            f"site.none.device.{oven}.hour",
            f"site.none.device.{pump}.reading",
            f"site.none.device.{pump}.reading",
            f"site.none.device.{pump}.hour",
        ]
    )


def test_tail_without_a_broker_says_what_is_missing(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENERGYMON_")}
    done = subprocess.run(
        [sys.executable, "-m", "energymon", "tail"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "broker.url" in done.stderr
