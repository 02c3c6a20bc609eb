"""Helpers for the readings tests: devices with ingest tokens, posting readings."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient


@dataclass
class Meter:
    """A device created through the API, with its ingest token."""

    id: int
    token: str
    client: TestClient

    async def send(self, body: Any, expect: int = 200) -> dict[str, Any]:
        resp = await self.client.post(
            "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        data = await resp.json()
        assert resp.status == expect, data
        return data


@pytest.fixture
def make_meter(client, admin):
    async def make(
        owner=None, *, max_kwh: float = 1.0, kind: str = "interval", description: str = "Meter"
    ) -> Meter:
        body = {"description": description, "max_hourly_kwh": max_kwh, "meter_kind": kind}
        if owner is not None:
            body["owner_id"] = owner.id
        resp = await client.post("/api/v1/devices", json=body, headers=admin.headers)
        assert resp.status == 201, await resp.text()
        device_id = (await resp.json())["id"]
        resp = await client.post(f"/api/v1/devices/{device_id}/ingest-token", headers=admin.headers)
        assert resp.status == 201, await resp.text()
        return Meter(device_id, (await resp.json())["token"], client)

    return make


async def hourly(client, actor, device_id: int, day: str, tz: str = "UTC") -> dict[str, Any]:
    resp = await client.get(
        f"/api/v1/devices/{device_id}/consumption/hourly",
        params={"date": day, "tz": tz},
        headers=actor.headers,
    )
    data = await resp.json()
    assert resp.status == 200, data
    return data


def kwh_by_hour(day: dict[str, Any]) -> dict[str, float | None]:
    return {h["start"][11:16]: h["kwh"] for h in day["hours"]}


class LoopProbe:
    """Measures the longest stall of the running event loop while the block runs: a task
    that asks to wake every 5 ms and records how late it woke."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self.longest = max(self.longest, loop.time() - before - self.interval)

    async def __aenter__(self) -> LoopProbe:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
