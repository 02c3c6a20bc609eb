"""CSV exports are streamed: 100,000 readings without stalling the event loop."""

from __future__ import annotations

import asyncio
import gc
import time
from datetime import UTC, datetime

from tests.api.helpers import ok

ROWS = 100_000
BATCH = 10_000


async def longest_stall_during(work) -> tuple[object, float, float]:  # type: ignore[no-untyped-def]
    """Run `work` while a ticker measures the longest the loop did not get back to it: in
    CPU time of the loop's thread (what our code spent without yielding; on a busy machine
    the wall-clock gap also counts time the process waited for a core), and wall clock."""
    longest_cpu = longest_wall = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal longest_cpu, longest_wall
        last_cpu, last_wall = time.thread_time(), time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            cpu, wall = time.thread_time(), time.perf_counter()
            longest_cpu = max(longest_cpu, cpu - last_cpu)
            longest_wall = max(longest_wall, wall - last_wall)
            last_cpu, last_wall = cpu, wall

    # The collector's walks over the test process' own heap (hundreds of ms here) are not
    # the server's doing: what exists already is set aside while measuring.
    gc.collect()
    gc.freeze()
    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done.set()
        await ticker
        gc.unfreeze()
    return result, longest_cpu, longest_wall


async def test_a_100000_row_export_streams_without_stalling_the_loop(
    client, admin, alice, make_device
):
    device = await make_device(alice, max_hourly_kwh=1000)
    token = await ok(
        await client.post(f"/api/v1/devices/{device['id']}/ingest-token", headers=admin.headers),
        201,
    )
    t0 = int(time.time()) - ROWS - 3600
    t0 -= t0 % 3600
    for first in range(0, ROWS, BATCH):
        body = [{"ts": t0 + i, "value": 0.001} for i in range(first, first + BATCH)]
        result = await ok(
            await client.post(
                "/api/v1/ingest",
                json=body,
                headers={"Authorization": f"Bearer {token['token']}"},
            )
        )
        assert result["stored"] == BATCH

    async def export() -> tuple[dict[str, str], list[str]]:
        resp = await client.get(
            f"/api/v1/devices/{device['id']}/readings.csv",
            params={
                "from": datetime.fromtimestamp(t0, UTC).isoformat(),
                "to": datetime.fromtimestamp(t0 + ROWS + 10, UTC).isoformat(),
            },
            headers=alice.headers,
        )
        assert resp.status == 200
        assert resp.content_type == "text/csv"
        lines = []
        async for line in resp.content:
            lines.append(line.decode().rstrip("\n"))
        return dict(resp.headers), lines

    (headers, lines), stall, wall = await longest_stall_during(export())
    print(
        f"longest loop stall, {ROWS}-row export: "
        f"{stall * 1000:.0f} ms CPU, {wall * 1000:.0f} ms wall"
    )
    assert headers.get("Transfer-Encoding") == "chunked"
    assert 'filename="device-' in headers["Content-Disposition"]
    assert lines[0] == "ts,value_kwh,consumption_kwh"
    assert len(lines) == ROWS + 1
    assert lines[1] == f"{datetime.fromtimestamp(t0, UTC).isoformat()},0.001,0.001"
    assert lines[-1].startswith(datetime.fromtimestamp(t0 + ROWS - 1, UTC).isoformat())
    assert stall < 0.1, f"the loop ran {stall * 1000:.0f} ms without yielding"
