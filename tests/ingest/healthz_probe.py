"""Ask a server's /healthz every 50 ms until stdin closes, then print the answer times as JSON.

Run as its own process by the hostile-input test, so the test's own work (building and
sending megabytes of hostile input) cannot delay the probe: what it measures is the server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import aiohttp

INTERVAL = 0.05


async def probe(url: str) -> dict[str, float | int]:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # stdin closing is the signal to stop; a thread waits for it so the loop stays free.
    threading.Thread(
        target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True
    ).start()
    latencies: list[float] = []
    failures = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except aiohttp.ClientError:
                ok = False
            elapsed = time.perf_counter() - started
            if ok:
                latencies.append(elapsed)
                if len(latencies) == 1:
                    print("ready", flush=True)
            else:
                failures += 1
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, INTERVAL - elapsed))
            except TimeoutError:
                pass
    latencies.sort()
    return {
        "probes": len(latencies),
        "failures": failures,
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
        "max_ms": round(latencies[-1] * 1000, 1),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1]))), flush=True)
