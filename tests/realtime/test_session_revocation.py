"""Ending a session closes its Socket.IO connections, and only those, in every process."""

from __future__ import annotations

import asyncio

import pytest

from energymon.app import create_app
from tests.conftest import PASSWORD, Actor, make_config
from tests.realtime.conftest import Api

QUIET = 0.6  # how long "nothing happens" is watched for, after the expected event arrived


@pytest.fixture
async def served(aiohttp_server, config, http):
    server = await aiohttp_server(create_app(config))
    return Api(str(server.make_url("")).rstrip("/"), http)


@pytest.fixture
async def pair(aiohttp_server, db_url, http, rabbit, names):
    """Two served apps on one database and one broker namespace."""
    config = make_config(db_url, broker={"url": rabbit, "namespace": names.namespace})
    return [
        Api(str((await aiohttp_server(create_app(config))).make_url("")).rstrip("/"), http)
        for _ in range(2)
    ]


async def _login(api: Api, actor: Actor) -> Actor:
    """Another session of the same account."""
    body = {"email": actor.user.email, "password": PASSWORD}
    return Actor(
        actor.user, (await api.ok("POST", "/api/v1/auth/login", None, body))["access_token"]
    )


async def _closed(listener, reason: str) -> None:  # type: ignore[no-untyped-def]
    revoked = await listener.wait_for("session_revoked")
    assert reason in revoked["reason"], revoked
    await asyncio.wait_for(listener.disconnected.wait(), 5)


async def test_logout_closes_only_that_sessions_connections(served, listen, alice):
    other = await _login(served, alice)
    mine, theirs = await listen(served.url, alice), await listen(served.url, other)
    assert await served.call("POST", "/api/v1/auth/logout", alice) == (204, None)
    await _closed(mine, "logged out")
    await asyncio.sleep(QUIET)
    assert theirs.client.connected and theirs.events("session_revoked") == []


async def test_a_password_change_closes_the_other_sessions_connections(served, listen, alice):
    here = await _login(served, alice)
    elsewhere, mine = await listen(served.url, alice), await listen(served.url, here)
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert await served.call("POST", "/api/v1/me/password", here, body) == (204, None)
    await _closed(elsewhere, "password")
    await asyncio.sleep(QUIET)
    assert mine.client.connected and mine.events("session_revoked") == []


async def test_a_role_change_closes_the_accounts_connections(served, listen, admin, alice):
    connection = await listen(served.url, alice)
    await served.ok("PATCH", f"/api/v1/users/{alice.id}", admin, {"role": "admin"})
    await _closed(connection, "role")


async def test_logout_on_one_process_closes_the_connection_on_another(pair, listen, alice):
    a, b = pair
    other = await _login(a, alice)
    on_b, other_on_b = await listen(b.url, alice), await listen(b.url, other)
    assert await a.call("POST", "/api/v1/auth/logout", alice) == (204, None)
    await _closed(on_b, "logged out")
    await asyncio.sleep(QUIET)
    assert other_on_b.client.connected
