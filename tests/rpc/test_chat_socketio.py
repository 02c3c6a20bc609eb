"""The browser's chat bridge over a real Socket.IO server and client, on the same ChatService.

The Socket.IO server is the app's own (energymon/realtime), with the chat handlers it registers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from energymon.app import create_app
from energymon.config import Config

WAIT = 5.0


@pytest.fixture
async def served(aiohttp_client: Any, config: Config) -> TestClient:
    return await aiohttp_client(create_app(config))


class Browser:
    """A socketio.AsyncClient that records every chat event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        for name in ("chat_message", "chat_typing", "chat_read", "chat_unread"):
            self.sio.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: dict[str, Any]) -> None:
            self.events.put_nowait((name, data))

        return record

    async def call(self, event: str, data: Any = None) -> dict[str, Any]:
        return await self.sio.call(event, data if data is not None else {}, timeout=WAIT)

    async def next(self, name: str | None = None) -> tuple[str, dict[str, Any]]:
        while True:
            got = await asyncio.wait_for(self.events.get(), WAIT)
            if name is None or got[0] == name:
                return got

    async def nothing(self, name: str, wait: float = 0.3) -> None:
        await asyncio.sleep(wait)
        while not self.events.empty():
            got = self.events.get_nowait()
            assert got[0] != name, f"unexpected {got}"


@pytest.fixture
async def browser(served: TestClient):
    opened: list[Browser] = []

    async def connect(actor) -> Browser:
        b = Browser()
        await b.sio.connect(
            str(served.make_url("/")), auth={"token": actor.token}, transports=["websocket"]
        )
        opened.append(b)
        return b

    yield connect
    for b in opened:
        await b.sio.disconnect()


async def test_a_browser_chat_meets_a_grpc_admin(served, browser, alice, admin):
    """Same service underneath: what the browser sends, gRPC sees, and back."""
    from grpclib.client import Channel

    alice_tab, admin_tab = await browser(alice), await browser(admin)
    sent = await alice_tab.call("chat_send", {"text": "Is my meter online?"})
    assert sent["ok"] is True
    message = sent["message"]
    assert message["sender_id"] == alice.id
    assert message["user_id"] == alice.id
    assert message["sender_role"] == "user"
    assert message["created_at"].endswith("Z")

    for tab in (alice_tab, admin_tab):
        _name, data = await tab.next("chat_message")
        assert data == {"conversation_id": alice.id, "message": message}
    _name, data = await admin_tab.next("chat_unread")
    assert data == {"conversation_id": alice.id, "unread": 1}

    server = served.app[keys.GRPC]
    channel = Channel(server.host, server.port)
    try:
        stub = pb.ChatServiceStub(channel, metadata={"authorization": f"Bearer {admin.token}"})
        history = await stub.history(pb.HistoryRequest(conversation_id=alice.id))
        assert [m.text for m in history.messages] == ["Is my meter online?"]
        answer = await stub.post(
            pb.PostRequest(conversation_id=alice.id, type=pb.MessageType.CONTENT, text="Yes")
        )
    finally:
        channel.close()
    _name, data = await alice_tab.next("chat_message")
    assert data["message"]["id"] == answer.message.id
    assert data["message"]["sender_role"] == "admin"


async def test_history_conversations_typing_and_read(served, browser, alice, bob, admin):
    alice_tab, bob_tab, admin_tab = await browser(alice), await browser(bob), await browser(admin)
    first = (await alice_tab.call("chat_send", {"text": "one"}))["message"]
    await alice_tab.call("chat_send", {"text": "two"})

    page = await alice_tab.call("chat_history", {"limit": 1})
    assert page["ok"] is True
    assert [m["text"] for m in page["messages"]] == ["two"]
    older = await alice_tab.call("chat_history", {"limit": 1, "before": page["next_before"]})
    assert [m["text"] for m in older["messages"]] == ["one"]
    assert page["conversation"]["id"] == alice.id

    listing = await admin_tab.call("chat_conversations")
    assert [(c["id"], c["unread"]) for c in listing["conversations"]] == [(alice.id, 2)]
    refused = await alice_tab.call("chat_conversations")
    assert refused["ok"] is False and refused["error"]

    assert (await admin_tab.call("chat_typing", {"user_id": alice.id, "typing": True}))["ok"]
    _name, data = await alice_tab.next("chat_typing")
    assert data == {
        "conversation_id": alice.id,
        "sender_id": admin.id,
        "sender_name": "Admin",
        "typing": True,
    }
    await admin_tab.nothing("chat_typing")
    await bob_tab.nothing("chat_typing")

    read = await admin_tab.call("chat_read", {"user_id": alice.id, "message_id": first["id"]})
    assert read == {"ok": True}
    _name, data = await alice_tab.next("chat_read")
    assert data["reader_id"] == admin.id
    assert data["message_id"] == first["id"]
    _name, data = await admin_tab.next("chat_unread")
    while data["unread"] != 1:  # the counts of the two messages come first
        _name, data = await admin_tab.next("chat_unread")
    await bob_tab.nothing("chat_message")


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("chat_send", {"text": ""}),
        ("chat_send", {"text": "x" * 4097}),
        ("chat_send", {}),
        ("chat_send", "not an object"),
        ("chat_send", {"text": "hi", "sender_id": 1}),
        ("chat_send", {"text": "hi", "user_id": "1"}),
        ("chat_read", {"message_id": None}),
        ("chat_read", {"message_id": 999_999}),
        ("chat_typing", {"typing": "yes"}),
        ("chat_history", {"limit": -1}),
    ],
)
async def test_bad_input_gets_an_error_ack(served, browser, alice, event, data):
    tab = await browser(alice)
    ack = await tab.call(event, data)
    assert ack["ok"] is False
    assert isinstance(ack["error"], str) and ack["error"]


async def test_a_user_cannot_touch_another_conversation(served, browser, alice, bob):
    await (await browser(alice)).call("chat_send", {"text": "private"})
    bob_tab = await browser(bob)
    for event, data in (
        ("chat_history", {"user_id": alice.id}),
        ("chat_send", {"user_id": alice.id, "text": "hi"}),
        ("chat_typing", {"user_id": alice.id, "typing": True}),
    ):
        ack = await bob_tab.call(event, data)
        assert ack["ok"] is False
        assert "own conversation" in ack["error"]
    await bob_tab.nothing("chat_message")
