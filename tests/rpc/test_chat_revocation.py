"""Chat streams end as soon as the session or the role they were opened with is gone."""

from __future__ import annotations

import asyncio

import pytest
from grpclib import GRPCError
from grpclib.client import Channel
from grpclib.const import Status

import energymon.rpc.gen.energymon.chat.v1 as pb
from energymon import keys
from energymon.app import create_app
from energymon.models import Role
from energymon.storage import users as users_store
from tests.conftest import PASSWORD, Actor, make_config
from tests.rpc.conftest import Updates, ended_with, raw_subscribe

# Well under the re-check period (60 s): an ending must come from the revocation itself.
PROMPTLY = 5.0
ENDED = {Status.UNAUTHENTICATED, Status.PERMISSION_DENIED}


async def _login(client, actor: Actor) -> Actor:  # type: ignore[no-untyped-def]
    """Another session of the same account."""
    body = {"email": actor.user.email, "password": PASSWORD}
    resp = await client.post("/api/v1/auth/login", json=body)
    assert resp.status == 200, await resp.text()
    return Actor(actor.user, (await resp.json())["access_token"])


async def _ended(updates: Updates) -> Status:
    """The status the server ended the stream with (its trailers), within PROMPTLY."""
    assert updates.task is not None
    await asyncio.wait_for(asyncio.shield(updates.task), PROMPTLY)
    with pytest.raises(GRPCError) as err:
        await updates.stream.recv_trailing_metadata()
    return err.value.status


def _content(body: str, conversation_id: int = 0) -> pb.PostRequest:
    return pb.PostRequest(conversation_id=conversation_id, type=pb.MessageType.CONTENT, text=body)


async def test_a_demoted_admins_stream_of_every_conversation_ends_at_once(
    client, subscribe, stub, admin, make_actor, alice
):
    other = await make_actor(Role.ADMIN)
    everything = await subscribe(other)
    await stub(alice).post(_content("before"))
    assert (await everything.next()).message.text == "before"
    resp = await client.patch(
        f"/api/v1/users/{other.id}", json={"role": "user"}, headers=admin.headers
    )
    assert resp.status == 200
    assert await _ended(everything) in ENDED


async def test_a_stream_ends_when_its_role_no_longer_holds_even_without_the_event(
    aiohttp_client, db_url, db, make_actor, alice
):
    """The periodic re-check alone (a role changed behind energymon's back, or an event lost
    while the broker was away) ends an admin's stream once the account is no admin."""
    other = await make_actor(Role.ADMIN)
    app = await aiohttp_client(
        create_app(make_config(db_url, grpc={"stream_recheck_seconds": 0.2}))
    )
    server = app.app[keys.GRPC]
    channel = Channel(server.host, server.port)
    try:
        async with raw_subscribe(channel, other) as stream:
            async with db.write() as conn:
                await users_store.update(conn, other.id, {"role": Role.USER.value})
            assert await ended_with(stream, PROMPTLY) is Status.PERMISSION_DENIED
    finally:
        channel.close()


async def test_logout_ends_only_the_streams_of_that_session(client, subscribe, stub, admin, alice):
    second = await _login(client, alice)
    first_stream, second_stream = await subscribe(alice), await subscribe(second)
    resp = await client.post("/api/v1/auth/logout", headers=alice.headers)
    assert resp.status == 204
    assert await _ended(first_stream) is Status.UNAUTHENTICATED
    await stub(admin).post(_content("still here", alice.id))
    assert (await second_stream.next()).message.text == "still here"


async def test_a_password_change_ends_the_other_sessions_streams(client, subscribe, alice):
    here = await _login(client, alice)
    elsewhere, mine = await subscribe(alice), await subscribe(here)
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    resp = await client.post("/api/v1/me/password", json=body, headers=here.headers)
    assert resp.status == 204
    assert await _ended(elsewhere) is Status.UNAUTHENTICATED
    await mine.nothing()


@pytest.mark.parametrize("change", [{"disabled": True}, {"password": "a brand new passphrase"}])
async def test_an_admins_change_ends_the_accounts_streams_at_once(
    client, subscribe, admin, alice, change
):
    stream = await subscribe(alice)
    resp = await client.patch(f"/api/v1/users/{alice.id}", json=change, headers=admin.headers)
    assert resp.status == 200
    assert await _ended(stream) is Status.UNAUTHENTICATED
