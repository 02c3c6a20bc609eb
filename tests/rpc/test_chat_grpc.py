"""The chat over gRPC through grpclib, as clients see it: messages, streams, receipts, errors."""

from __future__ import annotations

import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status
from grpclib.health.v1.health_grpc import HealthStub
from grpclib.health.v1.health_pb2 import HealthCheckRequest, HealthCheckResponse
from grpclib.reflection.v1.reflection_grpc import ServerReflectionStub
from grpclib.reflection.v1.reflection_pb2 import ServerReflectionRequest

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from energymon.auth.tokens import TokenIssuer
from energymon.models import Role
from energymon.storage import users as users_store
from tests.conftest import JWT_SECRET, build_app, make_config
from tests.rpc.conftest import WAIT, ended_with, raw_subscribe

CONTENT, ACK = pb.MessageType.CONTENT, pb.MessageType.ACK


def text(body: str, conversation_id: int = 0) -> pb.PostRequest:
    return pb.PostRequest(conversation_id=conversation_id, type=CONTENT, text=body)


async def test_a_user_asks_and_an_admin_answers(stub, alice, admin):
    asked = await stub(alice).post(text("My meter stopped sending"))
    assert asked.message.sender_id == alice.id
    assert asked.message.sender_role == pb.Role.USER
    assert asked.message.conversation_id == alice.id
    answered = await stub(admin).post(text("Looking into it", alice.id))
    assert answered.message.sender_id == admin.id
    assert answered.message.sender_name == "Admin"
    assert answered.message.sender_role == pb.Role.ADMIN

    history = await stub(alice).history(pb.HistoryRequest())
    assert [m.text for m in history.messages] == ["My meter stopped sending", "Looking into it"]
    assert [m.sender_id for m in history.messages] == [alice.id, admin.id]
    assert history.conversation.unread == 1  # the answer, for alice
    assert history.next_before_id == 0


async def test_the_sender_is_the_token_never_the_request(stub, alice, bob, admin):
    # conversation_id is the only identity a request carries, and a user may only name theirs.
    with pytest.raises(GRPCError) as err:
        await stub(bob).post(text("pretending to be alice", alice.id))
    assert err.value.status is Status.PERMISSION_DENIED
    posted = await stub(bob).post(text("hello", bob.id))
    assert posted.message.sender_id == bob.id
    assert posted.message.conversation_id == bob.id


async def test_two_streams_per_side_all_see_each_message_once_in_order(
    stub, alice, admin, subscribe
):
    user_tabs = [await subscribe(alice), await subscribe(alice)]
    admin_tabs = [await subscribe(admin), await subscribe(admin, alice.id)]
    sent = []
    for i in range(5):
        who = alice if i % 2 == 0 else admin
        response = await stub(who).post(text(f"message {i}", alice.id))
        sent.append(response.message.id)
    for tab in user_tabs + admin_tabs:
        seen = []
        while len(seen) < len(sent):
            update = await tab.next()
            if update.is_set("message"):
                seen.append((update.message.id, update.message.text))
        assert seen == [(mid, f"message {i}") for i, mid in enumerate(sent)]
    for tab in user_tabs + admin_tabs:
        while not tab.queue.empty():  # only unread counts may remain
            assert not (await tab.next()).is_set("message")


async def test_typing_reaches_only_the_other_side(stub, alice, admin, subscribe):
    alice_tab, alice_tab2 = await subscribe(alice), await subscribe(alice)
    admin_tab = await subscribe(admin)
    await stub(alice).post(pb.PostRequest(type=pb.MessageType.TYPING_START))
    update = await admin_tab.next()
    assert update.typing.sender_id == alice.id
    assert update.typing.typing is True
    assert update.typing.conversation_id == alice.id
    await alice_tab.nothing()
    await alice_tab2.nothing()

    await stub(admin).post(pb.PostRequest(conversation_id=alice.id, type=pb.MessageType.TYPING_END))
    for tab in (alice_tab, alice_tab2):
        update = await tab.next()
        assert update.typing.sender_id == admin.id
        assert update.typing.typing is False
    await admin_tab.nothing()


async def test_typing_is_not_stored(stub, alice):
    await stub(alice).post(pb.PostRequest(type=pb.MessageType.TYPING_START))
    assert (await stub(alice).history(pb.HistoryRequest())).messages == []


async def test_ack_marks_read_and_the_sender_sees_the_receipt(stub, alice, admin, subscribe):
    alice_tab = await subscribe(alice)
    posted = await stub(alice).post(text("anyone there?"))
    await alice_tab.next()  # her own message
    listing = await stub(admin).list_conversations(pb.ListConversationsRequest())
    assert [(c.id, c.unread) for c in listing.conversations] == [(alice.id, 1)]
    assert listing.conversations[0].latest.text == "anyone there?"

    await stub(admin).post(
        pb.PostRequest(conversation_id=alice.id, type=ACK, message_id=posted.message.id)
    )
    receipt = await alice_tab.next()
    assert receipt.read.reader_id == admin.id
    assert receipt.read.reader_role == pb.Role.ADMIN
    assert receipt.read.message_id == posted.message.id
    listing = await stub(admin).list_conversations(pb.ListConversationsRequest())
    assert listing.conversations[0].unread == 0
    history = await stub(alice).history(pb.HistoryRequest())
    assert history.conversation.admin_read_id == posted.message.id


async def test_unread_counts_follow_each_side(stub, alice, admin, subscribe):
    admin_tab = await subscribe(admin)
    await stub(alice).post(text("one"))
    await stub(alice).post(text("two"))
    counts = [u.unread.unread async for u in _take(admin_tab, 4) if u.is_set("unread")]
    assert counts == [1, 2]
    answer = await stub(admin).post(text("yes?", alice.id))
    assert (await stub(alice).history(pb.HistoryRequest())).conversation.unread == 1
    await stub(alice).post(pb.PostRequest(type=ACK, message_id=answer.message.id))
    assert (await stub(alice).history(pb.HistoryRequest())).conversation.unread == 0
    # The admin side has still not read alice's two messages.
    listing = await stub(admin).list_conversations(pb.ListConversationsRequest())
    assert listing.conversations[0].unread == 2


async def _take(tab, n):
    for _ in range(n):
        yield await tab.next()


async def test_history_pages_are_stable(stub, alice, admin):
    ids = [(await stub(alice).post(text(f"m{i}"))).message.id for i in range(7)]
    first = await stub(alice).history(pb.HistoryRequest(limit=3))
    assert [m.id for m in first.messages] == ids[4:]
    # New messages arriving between pages do not shift the next page.
    await stub(admin).post(text("late", alice.id))
    second = await stub(alice).history(pb.HistoryRequest(limit=3, before_id=first.next_before_id))
    assert [m.id for m in second.messages] == ids[1:4]
    third = await stub(alice).history(pb.HistoryRequest(limit=3, before_id=second.next_before_id))
    assert [m.id for m in third.messages] == ids[:1]
    assert third.next_before_id == 0


async def test_admins_see_every_conversation(stub, alice, bob, admin, make_actor):
    other_admin = await make_actor(Role.ADMIN)
    await stub(alice).post(text("from alice"))
    await stub(bob).post(text("from bob"))
    for who in (admin, other_admin):
        listing = await stub(who).list_conversations(pb.ListConversationsRequest())
        assert [c.id for c in listing.conversations] == [bob.id, alice.id]
        assert listing.total == 2
    await stub(other_admin).post(text("answer", alice.id))
    history = await stub(admin).history(pb.HistoryRequest(conversation_id=alice.id))
    assert history.messages[-1].sender_id == other_admin.id


# ---- errors, each with its status --------------------------------------------------------


async def _status(call) -> Status:
    with pytest.raises(GRPCError) as err:
        await call
    assert err.value.message, "every error says why"
    return err.value.status


async def test_no_token_or_a_bad_one_is_unauthenticated(channel: Channel, stub, alice):
    anonymous = pb.ChatServiceStub(channel, timeout=5)
    assert await _status(anonymous.post(text("hi"))) is Status.UNAUTHENTICATED
    assert await _status(stub("not-a-jwt").history(pb.HistoryRequest())) is Status.UNAUTHENTICATED
    expired = TokenIssuer(JWT_SECRET, 60).issue(alice.id, Role.USER, "0" * 32, now=1_000_000)
    assert await _status(stub(expired).post(text("hi"))) is Status.UNAUTHENTICATED
    forged = TokenIssuer("another-secret-" + "y" * 40, 60).issue(alice.id, Role.ADMIN, "0" * 32)
    assert await _status(stub(forged).post(text("hi"))) is Status.UNAUTHENTICATED
    basic = pb.ChatServiceStub(channel, metadata={"authorization": f"Basic {alice.token}"})
    assert await _status(basic.post(text("hi"))) is Status.UNAUTHENTICATED


async def test_a_disabled_account_is_unauthenticated(stub, make_actor):
    carol = await make_actor(Role.USER, disabled=True)
    assert await _status(stub(carol).post(text("hi"))) is Status.UNAUTHENTICATED


async def test_someone_elses_conversation_is_permission_denied(stub, alice, bob):
    await stub(alice).post(text("private"))
    for call in (
        stub(bob).history(pb.HistoryRequest(conversation_id=alice.id)),
        stub(bob).post(text("hi", alice.id)),
        stub(bob).post(pb.PostRequest(conversation_id=alice.id, type=pb.MessageType.TYPING_START)),
        stub(bob).post(pb.PostRequest(conversation_id=alice.id, type=ACK, message_id=1)),
        stub(bob).list_conversations(pb.ListConversationsRequest()),
    ):
        assert await _status(call) is Status.PERMISSION_DENIED


async def test_someone_elses_stream_is_permission_denied(subscribe, alice, bob):
    with pytest.raises(GRPCError) as err:
        tab = await subscribe(bob, alice.id)
        await tab.next()
    assert err.value.status is Status.PERMISSION_DENIED


@pytest.mark.parametrize(
    "body", ["", "   \n\t", "x" * 4097, "é" * 2049], ids=["empty", "blank", "4097", "multibyte"]
)
async def test_empty_or_over_4kb_is_invalid_argument(stub, alice, body):
    assert await _status(stub(alice).post(text(body))) is Status.INVALID_ARGUMENT


async def test_exactly_4kb_is_accepted(stub, alice):
    posted = await stub(alice).post(text("é" * 2048))
    assert len(posted.message.text.encode()) == 4096


async def test_other_bad_input_is_invalid_argument(stub, alice, admin):
    for call in (
        stub(alice).post(pb.PostRequest(type=pb.MessageType.UNSPECIFIED, text="x")),
        stub(alice).post(pb.PostRequest(type=ACK, message_id=0)),
        stub(admin).post(text("to whom?")),  # an admin must name the conversation
        stub(alice).history(pb.HistoryRequest(limit=-1)),
        stub(admin).list_conversations(pb.ListConversationsRequest(offset=-5)),
    ):
        assert await _status(call) is Status.INVALID_ARGUMENT


async def test_a_malformed_request_is_invalid_argument(channel: Channel, alice):
    from grpclib.const import Cardinality
    from grpclib.encoding.base import CodecBase

    class RawCodec(CodecBase):
        __content_subtype__ = "proto"

        def encode(self, message, message_type):
            return message

        def decode(self, data, message_type):
            return data

    raw = Channel(channel._host, channel._port, codec=RawCodec())
    try:
        async with raw.request(
            "/energymon.chat.v1.ChatService/Post",
            Cardinality.UNARY_UNARY,
            bytes,
            bytes,
            metadata={"authorization": f"Bearer {alice.token}"},
        ) as stream:
            await stream.send_message(b"\x0a\xff\xff", end=True)  # a truncated field
            with pytest.raises(GRPCError) as err:
                await stream.recv_message()
        assert err.value.status is Status.INVALID_ARGUMENT
    finally:
        raw.close()


async def test_unknown_things_are_not_found(stub, alice, admin, make_actor):
    other_admin = await make_actor(Role.ADMIN)
    assert await _status(stub(admin).post(text("hi", 999_999))) is Status.NOT_FOUND
    assert await _status(stub(admin).post(text("hi", other_admin.id))) is Status.NOT_FOUND
    assert (
        await _status(stub(admin).history(pb.HistoryRequest(conversation_id=999_999)))
        is Status.NOT_FOUND
    )
    assert (
        await _status(stub(alice).post(pb.PostRequest(type=ACK, message_id=424_242)))
        is Status.NOT_FOUND
    )
    # A message of another conversation is not found in this one.
    theirs = await stub(admin).post(text("hi", alice.id))
    bob = await make_actor(Role.USER)
    ack = pb.PostRequest(type=ACK, message_id=theirs.message.id)
    assert await _status(stub(bob).post(ack)) is Status.NOT_FOUND


async def test_a_stream_ends_unauthenticated_when_the_account_is_disabled(
    aiohttp_client, db_url, make_actor, db
):
    carol = await make_actor(Role.USER)
    app_client = await aiohttp_client(
        build_app(make_config(db_url, grpc={"stream_recheck_seconds": 0.2}))
    )
    server = app_client.app[keys.GRPC]
    chan = Channel(server.host, server.port)
    try:
        # Opened and registered (its headers came) while the account was enabled: what ends
        # it afterwards can only be the re-check.
        async with raw_subscribe(chan, carol) as stream:
            async with db.write() as conn:
                await users_store.update(conn, carol.id, {"disabled": True})
            assert await ended_with(stream, WAIT) is Status.UNAUTHENTICATED
    finally:
        chan.close()


# ---- reflection and health ---------------------------------------------------------------


async def test_reflection_lists_and_describes_the_service(channel: Channel):
    from google.protobuf.descriptor_pb2 import FileDescriptorProto

    reflection = ServerReflectionStub(channel)
    async with reflection.ServerReflectionInfo.open() as stream:
        await stream.send_message(ServerReflectionRequest(list_services=""))
        listed = await stream.recv_message()
        names = {s.name for s in listed.list_services_response.service}
        assert "energymon.chat.v1.ChatService" in names
        assert "grpc.health.v1.Health" in names
        await stream.send_message(
            ServerReflectionRequest(file_containing_symbol="energymon.chat.v1.ChatService"),
            end=True,
        )
        described = await stream.recv_message()
    files = [
        FileDescriptorProto.FromString(raw)
        for raw in described.file_descriptor_response.file_descriptor_proto
    ]
    chat = next(f for f in files if f.package == "energymon.chat.v1")
    methods = {m.name for m in chat.service[0].method}
    assert methods == {"Post", "History", "ListConversations", "Subscribe"}


async def test_health_answers_serving(channel: Channel):
    health = HealthStub(channel)
    for service in ("", "energymon.chat.v1.ChatService"):
        response = await health.Check(HealthCheckRequest(service=service))
        assert response.status == HealthCheckResponse.SERVING
