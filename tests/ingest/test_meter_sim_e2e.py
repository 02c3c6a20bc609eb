"""End to end: the meter emulator publishes to RabbitMQ, energymon stores; every count, hourly
total and alert is checked against values computed here from the emulator's own output."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import pytest

from energymon.app import create_app
from tests.conftest import make_config
from tests.processes import ROOT

START = "2026-11-20T00:00:00Z"
DAY = "2026-11-20"
COUNT = 144  # a day of 10-minute readings per device


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _meter_args(devices: list[int], kind: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "meter_sim",
        "--devices",
        ",".join(map(str, devices)),
        "--kind",
        kind,
        "--seed",
        "42",
        "--start",
        START,
        "--count",
        str(COUNT),
        "--speed",
        "0",
        "--quiet",
    ]


def _expected(lines: list[str], kind: str, limit_kwh: Decimal):
    """Hourly totals (mWh), over-limit hours and peak hours, computed from the raw readings."""
    by_device: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for line in lines:
        r = json.loads(line, parse_float=Decimal)
        ts = _epoch(r["ts"])
        by_device[r["device_id"]].append((ts, int(r["value"] * 1_000_000)))
    totals: dict[tuple[int, int], int] = defaultdict(int)
    peaks: set[tuple[int, int]] = set()
    limit_mwh = int(limit_kwh * 1_000_000)
    for device, series in by_device.items():
        series.sort()
        for i, (ts, value) in enumerate(series):
            if kind == "interval":
                use = value
            else:
                use = 0 if i == 0 else value - series[i - 1][1]
                if i and use * 3600 // (ts - series[i - 1][0]) > limit_mwh:
                    peaks.add((device, ts - ts % 3600))
            totals[(device, ts - ts % 3600)] += use
    over = {k for k, v in totals.items() if v > limit_mwh}
    return totals, over, peaks


@pytest.mark.parametrize("kind", ["interval", "cumulative"])
async def test_emulated_meters_end_to_end(aiohttp_client, db_url, rabbit, names, admin, kind):
    config = make_config(db_url, broker={"url": rabbit, "namespace": names.namespace})
    client = await aiohttp_client(create_app(config))
    limit = Decimal("0.9")
    devices = []
    for n in range(5):
        resp = await client.post(
            "/api/v1/devices",
            json={"description": f"house {n}", "max_hourly_kwh": float(limit), "meter_kind": kind},
            headers=admin.headers,
        )
        devices.append((await resp.json())["id"])

    printed = subprocess.run(
        [*_meter_args(devices, kind), "--print"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(printed) == COUNT * len(devices)
    totals, over, peaks = _expected(printed, kind, limit)
    assert over, "the profile is expected to cross 0.9 kWh in some hours"

    proc = await asyncio.create_subprocess_exec(
        *_meter_args(devices, kind), "--amqp", rabbit, "--exchange", names.exchange, cwd=ROOT
    )
    assert await asyncio.wait_for(proc.wait(), 120) == 0  # every reading confirmed

    deadline = asyncio.get_running_loop().time() + 60
    while True:
        stored = {}
        for device in devices:
            resp = await client.get(
                f"/api/v1/devices/{device}/consumption/hourly",
                params={"date": DAY},
                headers=admin.headers,
            )
            for hour in (await resp.json())["hours"]:
                stored[(device, _epoch(hour["start"]))] = (hour["kwh"], hour["readings"])
        count = sum(r for _, r in stored.values())
        if count == COUNT * len(devices) or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert count == COUNT * len(devices)

    for (device, hour_ts), mwh in totals.items():
        kwh, readings = stored[(device, hour_ts)]
        assert kwh == pytest.approx(mwh / 1_000_000, abs=1e-9)
        assert readings == 6

    resp = await client.get("/api/v1/alerts", params={"limit": "100"}, headers=admin.headers)
    alerts = (await resp.json())["items"]
    got_hourly = {
        (a["device_id"], _epoch(a["hour_start"])) for a in alerts if a["kind"] == "hourly_limit"
    }
    got_peaks = {
        (a["device_id"], _epoch(a["hour_start"])) for a in alerts if a["kind"] == "peak_power"
    }
    assert got_hourly == over
    assert got_peaks == peaks
