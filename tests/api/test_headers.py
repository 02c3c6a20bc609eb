"""Response headers: no version in `Server`, API answers never cached."""

from __future__ import annotations

import pytest

from tests.conftest import sqlite_only

# Headers are set before and after the handler, the same on both engines.
pytestmark = sqlite_only


@pytest.mark.parametrize(
    "path", ["/api/v1/me", "/api/v1/openapi.json", "/login", "/nowhere", "/healthz"]
)
async def test_the_server_header_names_no_versions(client, alice, path):
    resp = await client.get(path, headers=alice.headers)
    server = resp.headers.get("Server", "")
    assert "aiohttp" not in server.lower() and "python" not in server.lower(), server
    assert not any(ch.isdigit() for ch in server), server


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/v1/me", 200), ("/api/v1/devices", 200), ("/api/v1/devices/99", 404)],
)
async def test_api_answers_are_not_stored(client, alice, path, status):
    resp = await client.get(path, headers=alice.headers)
    assert resp.status == status
    assert resp.headers.get("Cache-Control") == "no-store"


async def test_an_api_error_without_a_token_is_not_stored(client):
    resp = await client.get("/api/v1/me")
    assert resp.status == 401
    assert resp.headers.get("Cache-Control") == "no-store"
