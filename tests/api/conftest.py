"""Fixtures for the API tests: devices created through the admin API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.helpers import ok
from tests.conftest import Actor

MakeDevice = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_device(client: TestClient, admin: Actor) -> MakeDevice:
    """Create a device as the admin, optionally owned by `owner`; returns its JSON."""

    async def make(
        owner: Actor | None = None,
        *,
        description: str = "Meter",
        address: str = "1 Test Street",
        max_hourly_kwh: float = 3.5,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "description": description,
            "address": address,
            "max_hourly_kwh": max_hourly_kwh,
        }
        if owner is not None:
            body["owner_id"] = owner.id
        return await ok(await client.post("/api/v1/devices", json=body, headers=admin.headers), 201)

    return make
