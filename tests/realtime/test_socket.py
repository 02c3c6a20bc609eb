"""Socket.IO against a served app: who hears what, connect authentication, owner changes."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest
import socketio

from energymon.app import create_app
from energymon.auth.tokens import TokenIssuer
from energymon.models import Role
from tests.conftest import JWT_SECRET, make_config
from tests.realtime.conftest import Api, make_device, this_hour

QUIET = 0.6  # how long "receives nothing" is watched for, after a later event has arrived


@pytest.fixture
async def served(aiohttp_server, config, http):
    server = await aiohttp_server(create_app(config))
    return Api(str(server.make_url("")).rstrip("/"), http)


async def test_the_owner_hears_readings_hours_and_one_alert_and_nobody_else_does(
    served, listen, admin, alice, bob
):
    meter = await make_device(served, admin, alice, max_kwh=1.0, description="Heat pump")
    bobs = await make_device(served, admin, bob)
    owner = await listen(served.url, alice)
    other = await listen(served.url, bob)
    watching = await listen(served.url, admin)
    assert await owner.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    assert await other.call("subscribe_device", {"device_id": bobs.id}) == {"ok": True}

    t0 = this_hour(1)
    await meter.send([{"device_id": meter.id, "ts": t0, "value": 0.6}])
    await meter.send([{"device_id": meter.id, "ts": t0 + 1, "value": 0.7}])
    await meter.send([{"device_id": meter.id, "ts": t0 + 2, "value": 0.2}])  # still over

    alert = await owner.wait_for("alert")
    hour = time.strftime("%Y-%m-%dT%H:00:00Z", time.gmtime(t0))
    assert alert["device_id"] == meter.id
    assert alert["device_description"] == "Heat pump"
    assert alert["kind"] == "hourly_limit"
    assert alert["hour"] == hour
    assert alert["total_kwh"] == pytest.approx(1.3)
    assert alert["limit_kwh"] == 1.0
    assert alert["late"] is False
    assert alert["created_at"].endswith("Z")
    last = await owner.wait_for("hourly", lambda h: h["total_kwh"] == pytest.approx(1.5))
    assert last == {
        "device_id": meter.id,
        "hour": hour,
        "total_kwh": pytest.approx(1.5),
        "limit_kwh": 1.0,
        "over_limit": True,
    }
    reading = await owner.wait_for("reading", lambda r: r["value_kwh"] == 0.2)
    assert reading["ts"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 2))
    assert reading["consumption_kwh"] == 0.2
    assert (await watching.wait_for("alert"))["id"] == alert["id"]  # admins hear alerts too

    # What the socket pushes is what the REST API lists, with the fields live pages read.
    (listed,) = (await served.ok("GET", "/api/v1/alerts", alice))["items"]
    extras = {"device_description": "Heat pump", "hour": hour, "acknowledged": False}
    assert alert == {**listed, **extras}
    end = time.strftime("%Y-%m-%dT%H:59:59Z", time.gmtime(t0))
    page = await served.ok(
        "GET", f"/api/v1/devices/{meter.id}/readings?from={hour}&to={end}&limit=10", alice
    )
    assert reading == {**page["items"][-1], "device_id": meter.id}

    await asyncio.sleep(QUIET)
    assert len(owner.events("alert")) == 1
    assert len(watching.events("alert")) == 1
    assert other.heard == []


async def test_following_someone_elses_device_is_refused_and_hears_nothing(
    served, listen, admin, alice, bob
):
    meter = await make_device(served, admin, alice)
    orphan = await make_device(served, admin, None)
    other = await listen(served.url, bob)
    owner = await listen(served.url, alice)
    refused = {"ok": False, "error": f"device {meter.id} not found"}
    assert await other.call("subscribe_device", {"device_id": meter.id}) == refused
    assert (await other.call("subscribe_device", {"device_id": orphan.id}))["ok"] is False
    assert (await other.call("subscribe_device", {"device_id": 999_999}))["ok"] is False
    for bad in (None, {}, {"device_id": "1"}, {"device_id": True}, {"device_id": -1}, [1], "x"):
        answer = await other.call("subscribe_device", bad)
        assert answer["ok"] is False and "device_id" in answer["error"], bad
    assert await owner.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}

    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 5}])
    await owner.wait_for("alert")
    await owner.wait_for("reading")
    await asyncio.sleep(QUIET)
    assert other.heard == []


async def test_an_admin_may_follow_any_device(served, listen, admin, alice):
    meter = await make_device(served, admin, alice)
    watching = await listen(served.url, admin)
    assert await watching.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 0.1}])
    assert (await watching.wait_for("reading"))["device_id"] == meter.id
    assert await watching.call("unsubscribe_device", {"device_id": meter.id}) == {"ok": True}


def _forged(payload: dict, key: str = "another-secret-" + "y" * 40, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


async def test_bad_credentials_are_refused(served, listen, alice, make_actor):
    issuer = TokenIssuer(JWT_SECRET, 3600)
    claims = {
        "sub": str(alice.id),
        "sid": "0" * 32,
        "role": "user",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        "iss": "energymon",
    }
    _header, body, _sig = alice.token.split(".")
    none_header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    disabled = await make_actor(Role.USER, disabled=True)
    cases = {
        "no credentials": dict(auth=None),
        "empty auth": dict(auth={}),
        "token not a string": dict(auth={"token": 17}),
        "garbage": dict(auth={"token": "not-a-jwt"}),
        "expired": dict(
            auth={"token": issuer.issue(alice.id, Role.USER, "0" * 32, now=time.time() - 7200)}
        ),
        "wrong signature": dict(auth={"token": _forged(claims)}),
        "alg none": dict(auth={"token": f"{none_header}.{body}."}),
        "disabled user": dict(auth={"token": disabled.token}),
        "unknown user": dict(auth={"token": issuer.issue(987_654, Role.USER, "0" * 32)}),
        "cookie with a forged token": dict(
            auth=None, headers={"Cookie": f"energymon_session={_forged(claims)}"}
        ),
    }
    for name, how in cases.items():
        listener = await listen(served.url, connect=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await listener.connect(how["auth"], how.get("headers"))
        assert not listener.client.connected, name
    # The session cookie of the web pages works when no auth payload is given.
    listener = await listen(served.url, connect=False)
    await listener.connect(None, {"Cookie": f"energymon_session={alice.token}"})
    assert listener.client.connected


async def test_a_refused_connection_says_why(served, listen):
    listener = await listen(served.url, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await listener.connect({"token": "x.y.z"})
    assert listener.refusal == {
        "message": "the access token is not valid",
        "data": {"status": 401},
    }


async def test_other_origins_are_refused_unless_configured(
    aiohttp_server, db_url, http, listen, alice
):
    allowed = "https://dashboard.example.net"
    app = create_app(make_config(db_url, realtime={"allowed_origins": [allowed]}))
    url = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    evil = await listen(url, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.connect({"token": alice.token}, {"Origin": "https://evil.example"})
    friend = await listen(url, connect=False)
    await friend.connect({"token": alice.token}, {"Origin": allowed})
    assert friend.client.connected


async def test_same_origin_only_by_default(served, listen, alice):
    evil = await listen(served.url, connect=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.connect({"token": alice.token}, {"Origin": "https://evil.example"})
    same = await listen(served.url, connect=False)
    await same.connect({"token": alice.token}, {"Origin": served.url})
    assert same.client.connected


async def test_after_unassign_the_old_owner_hears_nothing_of_the_device(
    served, listen, admin, alice, bob
):
    meter = await make_device(served, admin, alice)
    old = await listen(served.url, alice)
    new = await listen(served.url, bob)
    assert await old.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 0.1}])
    await old.wait_for("reading")

    await served.ok("DELETE", f"/api/v1/devices/{meter.id}/owner", admin)
    assert await old.wait_for("device_unassigned") == {"device_id": meter.id}
    await meter.send([{"device_id": meter.id, "ts": this_hour(2), "value": 0.2}])
    # With its history: the readings below are stamped before the moment of assignment.
    body = {"user_id": bob.id, "include_history": True}
    await served.ok("PUT", f"/api/v1/devices/{meter.id}/owner", admin, body)
    assigned = await new.wait_for("device_assigned")
    assert assigned["device"]["id"] == meter.id and assigned["device"]["owner_id"] == bob.id
    assert await new.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    await meter.send([{"device_id": meter.id, "ts": this_hour(3), "value": 5}])
    await new.wait_for("alert")
    await new.wait_for("reading")
    await asyncio.sleep(QUIET)
    assert [e for e, _ in old.heard] == ["reading", "hourly", "device_unassigned"]
    refused = await old.call("subscribe_device", {"device_id": meter.id})
    assert refused["ok"] is False


async def test_reassigning_takes_the_previous_owner_out_at_once(served, listen, admin, alice, bob):
    meter = await make_device(served, admin, alice)
    old = await listen(served.url, alice)
    assert await old.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    await served.ok("PUT", f"/api/v1/devices/{meter.id}/owner", admin, {"user_id": bob.id})
    await old.wait_for("device_unassigned")
    await meter.send([{"device_id": meter.id, "ts": this_hour(1), "value": 5}])
    await asyncio.sleep(QUIET + 0.5)
    assert [e for e, _ in old.heard] == ["device_unassigned"]


async def test_deleting_a_device_tells_its_owner(served, listen, admin, alice):
    meter = await make_device(served, admin, alice)
    owner = await listen(served.url, alice)
    await served.ok("DELETE", f"/api/v1/devices/{meter.id}", admin)
    assert await owner.wait_for("device_unassigned") == {"device_id": meter.id}


async def test_a_disabled_or_deleted_user_is_told_and_disconnected(
    served, listen, admin, alice, bob
):
    first = await listen(served.url, alice)
    second = await listen(served.url, alice)
    other = await listen(served.url, bob)
    await served.ok("PATCH", f"/api/v1/users/{alice.id}", admin, {"disabled": True})
    for listener in (first, second):
        revoked = await listener.wait_for("session_revoked")
        assert "disabled" in revoked["reason"]
        await asyncio.wait_for(listener.disconnected.wait(), 5)
    assert other.client.connected

    await served.ok("DELETE", f"/api/v1/users/{bob.id}", admin)
    assert "deleted" in (await other.wait_for("session_revoked"))["reason"]
    await asyncio.wait_for(other.disconnected.wait(), 5)


async def test_a_burst_of_readings_is_coalesced_and_the_latest_wins(served, listen, admin, alice):
    meter = await make_device(served, admin, alice, max_kwh=1000)
    owner = await listen(served.url, alice)
    assert await owner.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    t0 = this_hour(0)
    for n in range(30):
        await meter.send([{"device_id": meter.id, "ts": t0 + n, "value": 0.001 * (n + 1)}])
    last_ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 29))
    await owner.wait_for("reading", lambda r: r["ts"] == last_ts)
    assert len(owner.events("reading")) < 30
    final = await owner.wait_for("hourly", lambda h: h["total_kwh"] == pytest.approx(0.465))
    assert final["over_limit"] is False
