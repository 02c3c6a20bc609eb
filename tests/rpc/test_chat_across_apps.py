"""Two energymon apps sharing one database, their hubs linked by JSON (as a broker would):
a user streaming from one sees an admin posting through the other, and the other way round."""

from __future__ import annotations

import asyncio
import json

from grpclib.client import Channel

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from energymon.app import create_app
from energymon.events import Event, EventHub
from tests.rpc.conftest import auth


def _link(source: EventHub, target: EventHub) -> None:
    """Carry chat events as JSON text, so nothing but their data crosses."""

    def forward(event: Event) -> None:
        if event.kind.startswith("chat_") and not event.extra.get("forwarded"):
            wire = json.dumps({"kind": event.kind, "payload": event.payload})
            data = json.loads(wire)
            target.publish(Event(data["kind"], data["payload"], extra={"forwarded": True}))

    source.subscribe(forward)


async def test_a_stream_on_one_app_hears_a_post_on_another(aiohttp_client, config, alice, admin):
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    _link(first.app[keys.HUB], second.app[keys.HUB])
    _link(second.app[keys.HUB], first.app[keys.HUB])
    a, b = first.app[keys.GRPC], second.app[keys.GRPC]
    channel_a, channel_b = Channel(a.host, a.port), Channel(b.host, b.port)
    try:
        user_stream = pb.ChatServiceStub(channel_b, metadata=auth(alice)).subscribe(
            pb.SubscribeRequest()
        )
        admin_stream = pb.ChatServiceStub(channel_b, metadata=auth(admin)).subscribe(
            pb.SubscribeRequest()
        )
        user_next = asyncio.ensure_future(user_stream.__anext__())
        admin_next = asyncio.ensure_future(admin_stream.__anext__())
        await asyncio.sleep(0.3)  # both streams registered on the second app
        posted = await pb.ChatServiceStub(channel_a, metadata=auth(admin)).post(
            pb.PostRequest(conversation_id=alice.id, type=pb.MessageType.CONTENT, text="hello")
        )
        update = await asyncio.wait_for(user_next, 5)
        assert update.message.id == posted.message.id
        assert update.message.sender_id == admin.id
        admin_update = await asyncio.wait_for(admin_next, 5)
        assert admin_update.message.id == posted.message.id

        # Typing from the user on the first app reaches the admin streaming from the second.
        await pb.ChatServiceStub(channel_a, metadata=auth(alice)).post(
            pb.PostRequest(type=pb.MessageType.TYPING_START)
        )
        while True:
            update = await asyncio.wait_for(admin_stream.__anext__(), 5)
            if update.is_set("typing"):
                break
        assert update.typing.sender_id == alice.id
    finally:
        channel_a.close()
        channel_b.close()
