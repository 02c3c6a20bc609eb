"""Socket.IO edges: the server's own origin, hostile event data, and races with disconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import socketio

from energymon import keys
from energymon.app import create_app
from energymon.events import ReadingStored
from tests.conftest import make_config
from tests.realtime.conftest import Api, make_device

DASHBOARD = "https://dash.example.net"


@pytest.fixture
async def served(aiohttp_server, config, http):
    server = await aiohttp_server(create_app(config))
    return Api(str(server.make_url("")).rstrip("/"), http)


@pytest.fixture
async def url_with_other_origin(aiohttp_server, db_url) -> str:
    """A served app whose `realtime.allowed_origins` names another site."""
    app = create_app(make_config(db_url, realtime={"allowed_origins": [DASHBOARD]}))
    return str((await aiohttp_server(app)).make_url("")).rstrip("/")


async def polling_connect(url: str, headers: dict[str, str], auth: Any) -> str:
    """A Socket.IO connect over long-polling, spoken by hand (the client's polling disconnect
    waits for a ping period): the server's answer packet, `0{...}` when connected."""
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(base) as resp:
            assert resp.status == 200, (resp.status, await resp.text())
            sid = json.loads((await resp.text())[1:])["sid"]
        packet = "40" + (json.dumps(auth) if auth is not None else "")
        async with session.post(f"{base}&sid={sid}", data=packet) as resp:
            assert resp.status == 200, await resp.text()
        async with session.get(f"{base}&sid={sid}") as resp:
            answer = await resp.text()
        async with session.post(f"{base}&sid={sid}", data="1"):  # engine.io close
            pass
    return answer.removeprefix("4")


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("credential", ["token", "cookie"])
async def test_the_servers_own_origin_is_accepted_beside_the_listed_ones(
    url_with_other_origin, alice, transport, credential
):
    url = url_with_other_origin
    for origin in (url, DASHBOARD):
        headers = {"Origin": origin}
        auth = None
        if credential == "cookie":
            headers["Cookie"] = f"energymon_session={alice.token}"
        else:
            auth = {"token": alice.token}
        if transport == "polling":
            assert (await polling_connect(url, headers, auth)).startswith("0{"), origin
            continue
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(url, auth=auth, headers=headers, transports=[transport])
            assert client.connected, origin
        finally:
            await client.disconnect()


async def test_other_origins_stay_refused_when_some_are_listed(url_with_other_origin, alice):
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            url_with_other_origin,
            auth={"token": alice.token},
            headers={"Origin": "https://evil.example"},
            transports=["websocket"],
            wait_timeout=10,
        )


HUGE = [2**63, 2**64 + 5, -(2**63) - 1, 10**30]


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("chat_send", {"text": "hi", "user_id": "N"}),
        ("chat_history", {"user_id": "N"}),
        ("chat_history", {"before": "N"}),
        ("chat_read", {"message_id": "N"}),
        ("chat_typing", {"user_id": "N"}),
        ("chat_conversations", {"offset": "N"}),
        ("subscribe_device", {"device_id": "N"}),
    ],
)
async def test_out_of_range_integers_get_an_error_ack(
    served, listen, admin, caplog, event, data, number
):
    tab = await listen(served.url, admin)
    payload = {k: number if v == "N" else v for k, v in data.items()}
    answer = await tab.call(event, payload)
    assert answer["ok"] is False, answer
    assert isinstance(answer["error"], str) and answer["error"], answer
    assert "Traceback" not in caplog.text
    # The connection still works afterwards.
    assert (await tab.call("chat_conversations", {}))["ok"] is True


async def test_a_subscribe_racing_a_disconnect_leaves_nothing_followed(
    aiohttp_server, config, http, listen, admin, alice
):
    app = create_app(config)
    server = await aiohttp_server(app)
    api = Api(str(server.make_url("")).rstrip("/"), http)
    meter = await make_device(api, admin, alice)
    bridge = app[keys.BRIDGE]
    # The disconnect lands at a different point of the server's checks each round: this
    # varies the interleaving, it synchronises nothing.
    for round_ in range(40):
        tab = await listen(api.url, alice)
        await tab.client.emit("subscribe_device", {"device_id": meter.id})
        await asyncio.sleep(round_ / 4000)
        await tab.client.disconnect()
    await wait_until(lambda: not app[keys.SIO].eio.sockets)
    # Once the last handler has finished, nobody is followed: readings are not even built.
    await wait_until(lambda: not bridge.wants(ReadingStored))
    tab = await listen(api.url, alice)
    assert await tab.call("subscribe_device", {"device_id": meter.id}) == {"ok": True}
    assert bridge.wants(ReadingStored)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll `condition` on the loop until it holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


async def test_socket_events_per_account_are_rate_limited(
    aiohttp_server, db_url, listen, alice, bob
):
    limits = {"socket_events_burst": 5, "socket_events_per_second": 0.01}
    app = create_app(make_config(db_url, limits=limits))
    url = str((await aiohttp_server(app)).make_url("")).rstrip("/")
    first, second = await listen(url, alice), await listen(url, alice)
    for n in range(5):
        tab = first if n % 2 else second  # one budget for all of an account's connections
        assert (await tab.call("chat_history", {}))["ok"] is True
    for tab, event in ((first, "chat_history"), (second, "subscribe_device")):
        answer = await tab.call(event, {"device_id": 1} if event == "subscribe_device" else {})
        assert answer["ok"] is False and "too many socket events" in answer["error"], answer
    other = await listen(url, bob)
    assert (await other.call("chat_history", {}))["ok"] is True
