"""Helpers for the live exchange tests: an app publishing it, meters, readings sent over HTTP."""

from __future__ import annotations

import pytest

from energymon.app import create_app
from energymon.config import Config
from tests.conftest import TEST_HASHER, make_config

DAY = "2026-11-20"
HOUR_TS = 1_795_168_800  # 2026-11-20T10:00:00Z


@pytest.fixture
def live_config(db_url, rabbit, names) -> Config:
    return make_config(
        db_url, broker={"url": rabbit, "namespace": names.namespace}, live={"enabled": True}
    )


@pytest.fixture
async def live_client(aiohttp_client, live_config):
    return await aiohttp_client(create_app(live_config, password_hasher=TEST_HASHER))


async def meter(client, admin, description: str) -> tuple[int, str]:
    body = {"description": description, "max_hourly_kwh": 1.0, "meter_kind": "interval"}
    resp = await client.post("/api/v1/devices", json=body, headers=admin.headers)
    assert resp.status == 201, await resp.text()
    device = (await resp.json())["id"]
    resp = await client.post(f"/api/v1/devices/{device}/ingest-token", headers=admin.headers)
    assert resp.status == 201, await resp.text()
    return device, (await resp.json())["token"]


async def send(client, token: str, device: int, minutes_kwh: list[tuple[int, float]]) -> None:
    body = [
        {"device_id": device, "ts": f"{DAY}T10:{minute:02d}:00Z", "value": kwh}
        for minute, kwh in minutes_kwh
    ]
    resp = await client.post(
        "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["stored"] == len(body)
