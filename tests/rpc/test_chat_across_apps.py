"""Two energymon apps sharing one database and one RabbitMQ namespace: a user streaming from
one sees an admin posting through the other, and the other way round (the hub on the broker)."""

from __future__ import annotations

import asyncio

from grpclib.client import Channel
from grpclib.const import Status

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from energymon.app import create_app
from energymon.models import Role
from tests.conftest import make_config
from tests.rpc.conftest import auth, ended_with, raw_subscribe


async def test_a_stream_on_one_app_hears_a_post_on_another(
    aiohttp_client, db_url, rabbit, names, alice, admin
):
    config = make_config(db_url, broker={"url": rabbit, "namespace": names.namespace})
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    a, b = first.app[keys.GRPC], second.app[keys.GRPC]
    channel_a, channel_b = Channel(a.host, a.port), Channel(b.host, b.port)
    try:
        # Both streams are registered on the second app once their headers have come.
        async with (
            raw_subscribe(channel_b, alice) as user_stream,
            raw_subscribe(channel_b, admin) as admin_stream,
        ):
            posted = await pb.ChatServiceStub(channel_a, metadata=auth(admin)).post(
                pb.PostRequest(conversation_id=alice.id, type=pb.MessageType.CONTENT, text="hello")
            )
            update = await asyncio.wait_for(user_stream.recv_message(), 5)
            assert update is not None and update.message.id == posted.message.id
            assert update.message.sender_id == admin.id
            admin_update = await asyncio.wait_for(admin_stream.recv_message(), 5)
            assert admin_update is not None and admin_update.message.id == posted.message.id

            # Typing from the user on the first app reaches the admin streaming from the second.
            await pb.ChatServiceStub(channel_a, metadata=auth(alice)).post(
                pb.PostRequest(type=pb.MessageType.TYPING_START)
            )
            while True:
                update = await asyncio.wait_for(admin_stream.recv_message(), 5)
                assert update is not None
                if update.is_set("typing"):
                    break
            assert update.typing.sender_id == alice.id
            # Without a cancel the client would wait for the open streams' trailers forever.
            await user_stream.cancel()
            await admin_stream.cancel()
    finally:
        channel_a.close()
        channel_b.close()


async def test_a_demotion_on_one_app_ends_the_admins_stream_on_another_at_once(
    aiohttp_client, db_url, rabbit, names, admin, make_actor
):
    other = await make_actor(Role.ADMIN)
    config = make_config(db_url, broker={"url": rabbit, "namespace": names.namespace})
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    b = second.app[keys.GRPC]
    channel_b = Channel(b.host, b.port)
    try:
        async with raw_subscribe(channel_b, other) as stream:
            resp = await first.patch(
                f"/api/v1/users/{other.id}", json={"role": "user"}, headers=admin.headers
            )
            assert resp.status == 200
            # Well within the 60 s re-check: the event ended it.
            status = await ended_with(stream, 5)
            assert status in {Status.UNAUTHENTICATED, Status.PERMISSION_DENIED}
    finally:
        channel_b.close()
