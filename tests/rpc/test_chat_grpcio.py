"""The same chat through the official grpcio client, with stubs protoc made from the proto."""

from __future__ import annotations

import asyncio

import grpc
import pytest


@pytest.fixture
async def grpcio_channel(grpc_address):
    host, port = grpc_address
    async with grpc.aio.insecure_channel(f"{host}:{port}") as chan:
        yield chan


def meta(actor):
    return (("authorization", f"Bearer {actor.token}"),)


async def test_post_history_and_the_update_stream(grpcio_modules, grpcio_channel, alice, admin):
    chat_pb2, chat_pb2_grpc = grpcio_modules
    stub = chat_pb2_grpc.ChatServiceStub(grpcio_channel)

    updates = stub.Subscribe(chat_pb2.SubscribeRequest(), metadata=meta(alice))
    await asyncio.wait_for(updates.initial_metadata(), 5)  # the stream is open

    posted = await stub.Post(
        chat_pb2.PostRequest(
            conversation_id=alice.id, type=chat_pb2.CONTENT, text="Hello from grpcio"
        ),
        metadata=meta(admin),
    )
    assert posted.message.sender_id == admin.id
    assert posted.message.sender_role == chat_pb2.ROLE_ADMIN
    assert posted.message.created_at.seconds > 0

    first = await asyncio.wait_for(updates.read(), 5)
    assert first.WhichOneof("update") == "message"
    assert first.message.id == posted.message.id
    assert first.message.text == "Hello from grpcio"
    second = await asyncio.wait_for(updates.read(), 5)
    assert second.WhichOneof("update") == "unread"
    assert second.unread.unread == 1

    history = await stub.History(chat_pb2.HistoryRequest(), metadata=meta(alice))
    assert [m.text for m in history.messages] == ["Hello from grpcio"]
    assert history.conversation.unread == 1

    await stub.Post(
        chat_pb2.PostRequest(type=chat_pb2.ACK, message_id=posted.message.id),
        metadata=meta(alice),
    )
    listing = await stub.ListConversations(
        chat_pb2.ListConversationsRequest(), metadata=meta(admin)
    )
    assert [(c.id, c.user_read_id) for c in listing.conversations] == [
        (alice.id, posted.message.id)
    ]
    updates.cancel()


async def test_error_statuses(grpcio_modules, grpcio_channel, alice, bob):
    chat_pb2, chat_pb2_grpc = grpcio_modules
    stub = chat_pb2_grpc.ChatServiceStub(grpcio_channel)
    cases = [
        (stub.Post(chat_pb2.PostRequest(type=chat_pb2.CONTENT, text="hi")), "UNAUTHENTICATED"),
        (
            stub.History(chat_pb2.HistoryRequest(conversation_id=alice.id), metadata=meta(bob)),
            "PERMISSION_DENIED",
        ),
        (
            stub.Post(chat_pb2.PostRequest(type=chat_pb2.CONTENT, text=""), metadata=meta(bob)),
            "INVALID_ARGUMENT",
        ),
        (
            stub.Post(chat_pb2.PostRequest(type=chat_pb2.ACK, message_id=99), metadata=meta(bob)),
            "NOT_FOUND",
        ),
    ]
    for call, status in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == getattr(grpc.StatusCode, status)
        assert err.value.details()
