"""gRPC limits: oversized requests refused before their body is read, streams per account."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import socketio
from aiohttp.test_utils import TestClient
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon.rpc.server import MAX_REQUEST_BYTES
from tests.conftest import Actor, make_config
from tests.processes import ServerProcess, server_env
from tests.rpc.conftest import WAIT, auth


def rss_mb(pid: int) -> float:
    """Resident memory of a process, as `ps` or `top` would show it."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_128_mib_post_is_refused_without_growing_the_server(tmp_path, db_url, alice: Actor):
    server = ServerProcess(server_env(db_url), tmp_path / "server.log")
    await server.start()
    try:
        assert server.proc is not None
        before = rss_mb(server.proc.pid)
        channel = Channel("127.0.0.1", server.grpc_port)
        try:
            stub = pb.ChatServiceStub(channel, metadata=auth(alice), timeout=60)
            huge = pb.PostRequest(type=pb.MessageType.CONTENT, text="x" * (128 * 1024 * 1024))
            with pytest.raises(GRPCError) as refused:
                await stub.post(huge)
            assert refused.value.status is Status.RESOURCE_EXHAUSTED, refused.value
            assert str(MAX_REQUEST_BYTES) in (refused.value.message or "")
            # The server still answers on the same channel.
            ok = await stub.post(pb.PostRequest(type=pb.MessageType.CONTENT, text="still here"))
            assert ok.message.text == "still here"
        finally:
            channel.close()
        grown = rss_mb(server.proc.pid) - before
        assert grown < 8, f"server RSS grew by {grown:.1f} MB"
    finally:
        server.stop()


@pytest.fixture
def config(db_url):
    return make_config(
        db_url,
        grpc={"max_streams_per_account": 2},
        limits={"chat_messages_per_minute": 3, "chat_typing_per_minute": 2},
    )


async def test_open_streams_per_account_are_bounded(subscribe, stub, alice, bob):
    first = await subscribe(alice)
    await subscribe(alice)
    with pytest.raises(GRPCError) as refused:
        third = await subscribe(alice)
        await third.next()
    assert refused.value.status is Status.RESOURCE_EXHAUSTED
    assert "2" in (refused.value.message or "")
    # Another account is not affected.
    await subscribe(bob)
    # Closing a stream frees its place.
    await first.stream.cancel()
    fourth = await wait_for_a_place(subscribe, alice)
    await stub(alice).post(pb.PostRequest(type=pb.MessageType.CONTENT, text="hello"))
    assert (await fourth.next()).message.text == "hello"


async def wait_for_a_place(subscribe, actor: Actor, timeout: float = WAIT):
    """Open a stream once the server has noticed a cancelled one (it learns asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        updates = await subscribe(actor)
        try:
            # A refusal arrives at once as the stream's status; an open stream stays quiet.
            await updates.next(timeout=0.2)
        except TimeoutError:
            return updates
        except GRPCError as exc:
            assert exc.status is Status.RESOURCE_EXHAUSTED
            assert asyncio.get_running_loop().time() < deadline, "the place was never freed"


async def test_chat_limits_are_shared_by_grpc_and_socketio(client: TestClient, stub, alice, bob):
    tab = socketio.AsyncClient(reconnection=False)
    await tab.connect(
        str(client.make_url("/")), auth={"token": alice.token}, transports=["websocket"]
    )
    try:
        post = pb.PostRequest(type=pb.MessageType.CONTENT, text="hi")
        await stub(alice).post(post)
        await stub(alice).post(post)
        assert (await tab.call("chat_send", {"text": "hi"}, timeout=WAIT))["ok"] is True
        # The fourth message within the minute, through either transport:
        with pytest.raises(GRPCError) as refused:
            await stub(alice).post(post)
        assert refused.value.status is Status.RESOURCE_EXHAUSTED
        answer = await tab.call("chat_send", {"text": "hi"}, timeout=WAIT)
        assert answer["ok"] is False and "too many chat messages" in answer["error"]
        # Typing has its own budget.
        typing = pb.PostRequest(type=pb.MessageType.TYPING_START)
        await stub(alice).post(typing)
        assert (await tab.call("chat_typing", {"typing": False}, timeout=WAIT))["ok"] is True
        with pytest.raises(GRPCError) as refused:
            await stub(alice).post(typing)
        assert refused.value.status is Status.RESOURCE_EXHAUSTED
        # Another account has its own.
        await stub(bob).post(post)
    finally:
        await tab.disconnect()
