"""Who may call what: every operation of the OpenAPI document for every kind of caller.

The operations come from the served document, so a new endpoint fails here until it is given
a row in EXPECTED. Each cell gets fresh targets (a device of user A with an ingest token, a
spare user), so deleting in one cell cannot change the outcome of another.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.api.helpers import (
    bearer,
    fill_path,
    ok,
    operations,
    problem,
    valid_body,
    valid_query,
)
from tests.conftest import Actor, sqlite_only

CALLERS = ("anonymous", "alice", "bob", "admin")
# (METHOD, path) -> expected status for anonymous, user A (alice), user B (bob), admin.
# Path ids name a device owned by alice, a spare user account, and an alert of alice's.
EXPECTED: dict[tuple[str, str], tuple[int, int, int, int]] = {
    ("GET", "/healthz"): (200, 200, 200, 200),
    ("GET", "/readyz"): (200, 200, 200, 200),
    ("POST", "/api/v1/auth/register"): (201, 201, 201, 201),
    ("POST", "/api/v1/auth/login"): (200, 200, 200, 200),
    ("GET", "/api/v1/me"): (401, 200, 200, 200),
    ("POST", "/api/v1/auth/logout"): (401, 204, 204, 204),
    ("POST", "/api/v1/me/password"): (401, 204, 204, 204),
    ("GET", "/api/v1/users"): (401, 403, 403, 200),
    ("POST", "/api/v1/users"): (401, 403, 403, 201),
    ("GET", "/api/v1/users/{user_id}"): (401, 403, 403, 200),
    ("PATCH", "/api/v1/users/{user_id}"): (401, 403, 403, 200),
    ("DELETE", "/api/v1/users/{user_id}"): (401, 403, 403, 204),
    ("GET", "/api/v1/devices"): (401, 200, 200, 200),
    ("POST", "/api/v1/devices"): (401, 403, 403, 201),
    ("GET", "/api/v1/devices/{device_id}"): (401, 200, 404, 200),
    ("PATCH", "/api/v1/devices/{device_id}"): (401, 403, 403, 200),
    ("DELETE", "/api/v1/devices/{device_id}"): (401, 403, 403, 204),
    ("PUT", "/api/v1/devices/{device_id}/owner"): (401, 403, 403, 200),
    ("DELETE", "/api/v1/devices/{device_id}/owner"): (401, 403, 403, 200),
    # Readings: only a device's ingest token may send them, never an account's token.
    ("POST", "/api/v1/ingest"): (401, 401, 401, 401),
    ("POST", "/api/v1/devices/{device_id}/ingest-token"): (401, 403, 403, 201),
    ("DELETE", "/api/v1/devices/{device_id}/ingest-token"): (401, 403, 403, 204),
    ("GET", "/api/v1/devices/{device_id}/consumption/hourly"): (401, 200, 404, 200),
    ("GET", "/api/v1/devices/{device_id}/consumption/hourly.csv"): (401, 200, 404, 200),
    ("GET", "/api/v1/devices/{device_id}/consumption/daily"): (401, 200, 404, 200),
    ("GET", "/api/v1/devices/{device_id}/consumption/daily.csv"): (401, 200, 404, 200),
    ("GET", "/api/v1/devices/{device_id}/readings"): (401, 200, 404, 200),
    ("GET", "/api/v1/devices/{device_id}/readings.csv"): (401, 200, 404, 200),
    ("GET", "/api/v1/alerts"): (401, 200, 200, 200),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): (401, 200, 404, 200),
}
BOB_MARK = "bob-private-meter-7f3a"
# Operations that end the caller's session(s) or change its password.
ENDS_SESSIONS = {"logout", "change_password"}


async def ingest_token(client: TestClient, admin: Actor, device_id: int) -> str:
    url = f"/api/v1/devices/{device_id}/ingest-token"
    return (await ok(await client.post(url, headers=admin.headers), 201))["token"]


async def raise_alert(client: TestClient, admin: Actor, device: dict[str, Any]) -> dict[str, Any]:
    """Send one reading over the device's hourly limit; return the alert it raised."""
    token = await ingest_token(client, admin, device["id"])
    reading = {"ts": "2026-01-05T14:10:00Z", "value": device["max_hourly_kwh"] + 1}
    resp = await client.post(
        "/api/v1/ingest", json=reading, headers={"Authorization": f"Bearer {token}"}
    )
    assert (await ok(resp))["stored"] == 1
    alerts = await ok(
        await client.get(
            "/api/v1/alerts", params={"device_id": device["id"]}, headers=admin.headers
        )
    )
    assert len(alerts["items"]) == 1, alerts
    return alerts["items"][0]


@sqlite_only
async def test_every_operation_has_a_row(client):
    declared = {(method, path) for method, path, _ in await operations(client)}
    assert declared - EXPECTED.keys() == set(), "give these operations a row in EXPECTED"
    assert EXPECTED.keys() - declared == set(), "these rows name operations that are gone"


@pytest.mark.parametrize("caller", CALLERS)
async def test_matrix(client, caller, admin, alice, bob, make_actor, make_device):
    actor = {"anonymous": None, "alice": alice, "bob": bob, "admin": admin}[caller]
    column = CALLERS.index(caller)
    bobs = await make_device(bob, description=BOB_MARK, max_hourly_kwh=1)
    bobs_alert = await raise_alert(client, admin, bobs)
    alices_alert = await raise_alert(client, admin, await make_device(alice, max_hourly_kwh=1))
    await make_device(description="orphan-meter")  # visible to admins only

    for method, path, op in await operations(client):
        expected = EXPECTED[(method, path)][column]
        target_device = await make_device(alice, description="alice-meter")
        await ingest_token(client, admin, target_device["id"])
        spare = await make_actor()
        who = actor
        if op["operationId"] in ENDS_SESSIONS and actor is not None:
            # Its own account of the caller's role: the caller's session must live on.
            who = await make_actor(actor.user.role)
        url = fill_path(
            path, device_id=target_device["id"], user_id=spare.id, alert_id=alices_alert["id"]
        )
        resp = await client.request(
            method, url, json=valid_body(op, alice), params=valid_query(op), headers=bearer(who)
        )
        cell = f"{caller} {method} {path}"
        if expected >= 400:
            await problem(resp, expected)
            if expected == 401:
                assert resp.headers["WWW-Authenticate"].startswith("Bearer"), cell
            continue
        result = await ok(resp, expected)

        if caller in {"alice", "anonymous"}:
            text = result if isinstance(result, str) else json.dumps(result)
            assert BOB_MARK not in text, f"{cell} shows bob's device"
            assert bob.user.email not in text, f"{cell} shows bob's account"
            assert not set(_device_ids(result)) & {bobs["id"]}, f"{cell} shows bob's device"
            assert bobs_alert["id"] not in _alert_ids(result), f"{cell} shows bob's alert"


def _records(value: Any) -> list[dict[str, Any]]:
    """Every JSON object inside a decoded response."""
    if isinstance(value, dict):
        return [value] + [r for v in value.values() for r in _records(v)]
    if isinstance(value, list):
        return [r for v in value for r in _records(v)]
    return []


def _device_ids(result: Any) -> list[int]:
    """Ids of devices a response shows: device objects and anything naming a device_id."""
    ids = []
    for record in _records(result):
        if "max_hourly_kwh" in record:
            ids.append(record["id"])
        if "device_id" in record:
            ids.append(record["device_id"])
    return ids


def _alert_ids(result: Any) -> list[int]:
    return [r["id"] for r in _records(result) if "hour_start" in r and "kind" in r]


@pytest.mark.parametrize(
    "params",
    [{}, {"owner_id": "BOB"}, {"orphans": "true"}, {"limit": "100"}, {"offset": "1"}],
    ids=["plain", "bobs-owner-filter", "orphans", "big-page", "offset"],
)
async def test_a_users_device_list_holds_only_their_own(client, alice, bob, make_device, params):
    mine = {(await make_device(alice))["id"] for _ in range(3)}
    theirs = {(await make_device(bob))["id"] for _ in range(3)}
    orphans = {(await make_device())["id"] for _ in range(2)}
    params = {k: (str(bob.id) if v == "BOB" else v) for k, v in params.items()}

    for me, own, others in ((alice, mine, theirs | orphans), (bob, theirs, mine | orphans)):
        page = await ok(await client.get("/api/v1/devices", params=params, headers=me.headers))
        listed = {d["id"] for d in page["items"]}
        assert listed <= own
        assert not listed & others
        assert page["total"] == len(own)
        assert {d["owner_id"] for d in page["items"]} <= {me.id}


async def test_a_users_alert_list_holds_only_their_own(client, admin, alice, bob, make_device):
    mine = await raise_alert(client, admin, await make_device(alice, max_hourly_kwh=1))
    theirs = await raise_alert(client, admin, await make_device(bob, max_hourly_kwh=1))
    for params in ({}, {"device_id": str(theirs["device_id"])}, {"limit": "100"}):
        page = await ok(await client.get("/api/v1/alerts", params=params, headers=alice.headers))
        assert theirs["id"] not in {a["id"] for a in page["items"]}
        assert {a["device_id"] for a in page["items"]} <= {mine["device_id"]}
    page = await ok(await client.get("/api/v1/alerts", headers=admin.headers))
    assert {a["id"] for a in page["items"]} == {mine["id"], theirs["id"]}


async def test_every_device_of_someone_else_is_hidden(client, alice, bob, make_device):
    theirs = await make_device(bob)
    orphan = await make_device()
    seen = 0
    for method, path, op in await operations(client):
        if "{device_id}" not in path:
            continue
        for device in (theirs, orphan):
            url = fill_path(path, device_id=device["id"])
            resp = await client.request(
                method,
                url,
                json=valid_body(op, alice),
                params=valid_query(op),
                headers=alice.headers,
            )
            status = EXPECTED[(method, path)][CALLERS.index("alice")]
            # Either refused for the role, or not found: never the device itself.
            await problem(resp, 403 if status == 403 else 404)
            seen += 1
    assert seen >= 10


@sqlite_only
async def test_the_openapi_document_is_public(client):
    spec: dict[str, Any] = await ok(await client.get("/api/v1/openapi.json"))
    assert spec["openapi"].startswith("3.1")
    resp = await client.get("/api/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
