"""Prefill a queue: several processes publish readings through aio-pika with confirms."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time

import aiormq
from pamqp.commands import Basic

WINDOW = 1000  # unconfirmed messages in flight per process


def messages(
    part: int, parts: int, count: int, per_message: int, devices: list[int], start_ts: int
) -> list[bytes]:
    """Message bodies for this process's share: each device reads every 10 minutes."""
    bodies = []
    n_devices = len(devices)
    for m in range(part, count, parts):
        readings = []
        for k in range(per_message):
            n = m * per_message + k
            device = devices[n % n_devices]
            ts = start_ts + (n // n_devices) * 600
            readings.append({"device_id": device, "ts": ts, "value": 0.05 + (n % 7) * 0.01})
        bodies.append(json.dumps(readings if per_message > 1 else readings[0]).encode())
    return bodies


async def _publish(url: str, exchange_name: str, routing_key: str, bodies: list[bytes]) -> None:
    """aiormq directly (aio-pika's layer underneath): the same confirms, less per-message work."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        properties = Basic.Properties(delivery_mode=2, content_type="application/json")
        window = asyncio.Semaphore(WINDOW)
        failures: list[BaseException] = []

        def settled(future: asyncio.Future) -> None:
            window.release()
            if not future.cancelled() and future.exception() is not None:
                failures.append(future.exception())

        futures = []
        for body in bodies:
            await window.acquire()
            future = asyncio.ensure_future(
                channel.basic_publish(
                    body, exchange=exchange_name, routing_key=routing_key, properties=properties
                )
            )
            future.add_done_callback(settled)
            futures.append(future)
        await asyncio.gather(*futures)
        if failures:
            raise failures[0]
    finally:
        await connection.close()


def _worker(args: tuple) -> None:
    url, exchange, routing_key, part, parts, count, per_message, devices, start_ts = args
    bodies = messages(part, parts, count, per_message, devices, start_ts)
    asyncio.run(_publish(url, exchange, routing_key, bodies))


def prefill(
    url: str,
    exchange: str,
    routing_key: str,
    *,
    count: int,
    per_message: int,
    devices: list[int],
    start_ts: int,
    processes: int = 2,
) -> float:
    """Publish `count` messages from `processes` processes; returns messages/s achieved."""
    started = time.perf_counter()
    jobs = [
        (url, exchange, routing_key, p, processes, count, per_message, devices, start_ts)
        for p in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        pool.map(_worker, jobs)
    return count / (time.perf_counter() - started)
