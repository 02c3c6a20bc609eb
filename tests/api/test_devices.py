"""Devices: admins create, edit, assign and delete them; users see only their own."""

from __future__ import annotations

from tests.api.helpers import ok, problem

DEVICES = "/api/v1/devices"


def device_url(device_id: int) -> str:
    return f"{DEVICES}/{device_id}"


def owner_url(device_id: int) -> str:
    return f"{DEVICES}/{device_id}/owner"


async def ids(client, actor, **params) -> list[int]:  # type: ignore[no-untyped-def]
    page = await ok(await client.get(DEVICES, params=params, headers=actor.headers))
    assert page["total"] >= len(page["items"])
    return [d["id"] for d in page["items"]]


# ---- admin: create, read, update, delete ---------------------------------------------------


async def test_create_an_orphan_and_an_owned_device(client, admin, alice):
    resp = await client.post(
        DEVICES,
        json={"description": "  Main meter ", "address": " 1 Road ", "max_hourly_kwh": 2.345},
        headers=admin.headers,
    )
    orphan = await ok(resp, 201)
    assert orphan["description"] == "Main meter"
    assert orphan["address"] == "1 Road"
    assert orphan["max_hourly_kwh"] == 2.345
    assert orphan["owner_id"] is None

    resp = await client.post(
        DEVICES,
        json={"description": "Heat pump", "max_hourly_kwh": 7, "owner_id": alice.id},
        headers=admin.headers,
    )
    owned = await ok(resp, 201)
    assert (owned["owner_id"], owned["address"], owned["max_hourly_kwh"]) == (alice.id, "", 7.0)
    assert await ok(await client.get(device_url(owned["id"]), headers=admin.headers)) == owned


async def test_create_for_a_missing_owner_is_404(client, admin):
    resp = await client.post(
        DEVICES,
        json={"description": "Meter", "max_hourly_kwh": 1, "owner_id": admin.id + 999},
        headers=admin.headers,
    )
    await problem(resp, 404)
    assert await ids(client, admin) == []


async def test_admin_lists_all_by_owner_or_orphans(client, admin, alice, bob, make_device):
    a1 = (await make_device(alice))["id"]
    b1 = (await make_device(bob))["id"]
    o1 = (await make_device())["id"]
    a2 = (await make_device(alice))["id"]

    assert await ids(client, admin) == [a1, b1, o1, a2]
    assert await ids(client, admin, owner_id=alice.id) == [a1, a2]
    assert await ids(client, admin, owner_id=bob.id) == [b1]
    assert await ids(client, admin, orphans="true") == [o1]
    assert await ids(client, admin, orphans="false") == [a1, b1, o1, a2]
    assert await ids(client, admin, owner_id=admin.id + 999) == []

    page = await ok(
        await client.get(DEVICES, params={"limit": 2, "offset": 1}, headers=admin.headers)
    )
    assert [d["id"] for d in page["items"]] == [b1, o1]
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 1)
    page = await ok(await client.get(DEVICES, params={"limit": 101}, headers=admin.headers))
    assert page["limit"] == 100


async def test_update_changes_only_what_is_sent(client, admin, alice, make_device):
    device = await make_device(alice, description="Old", address="Old Road", max_hourly_kwh=1)
    url = device_url(device["id"])

    body = await ok(await client.patch(url, json={"description": "New"}, headers=admin.headers))
    assert body == {**device, "description": "New"}
    body = await ok(await client.patch(url, json={"address": ""}, headers=admin.headers))
    assert body == {**device, "description": "New", "address": ""}
    body = await ok(await client.patch(url, json={"max_hourly_kwh": 0.5}, headers=admin.headers))
    assert body == {**device, "description": "New", "address": "", "max_hourly_kwh": 0.5}
    assert await ok(await client.get(url, headers=admin.headers)) == body


async def test_update_cannot_change_the_owner(client, admin, alice, bob, make_device):
    device = await make_device(alice)
    resp = await client.patch(
        device_url(device["id"]), json={"owner_id": bob.id}, headers=admin.headers
    )
    await problem(resp, 422)
    assert (await ok(await client.get(device_url(device["id"]), headers=admin.headers)))[
        "owner_id"
    ] == alice.id


async def test_update_or_delete_a_missing_device_is_404(client, admin):
    await problem(
        await client.patch(device_url(42), json={"address": "x"}, headers=admin.headers), 404
    )
    await problem(await client.delete(device_url(42), headers=admin.headers), 404)
    await problem(await client.get(device_url(42), headers=admin.headers), 404)


async def test_delete(client, admin, alice, make_device):
    device = await make_device(alice)
    await ok(await client.delete(device_url(device["id"]), headers=admin.headers), 204)
    await problem(await client.get(device_url(device["id"]), headers=admin.headers), 404)
    await problem(await client.get(device_url(device["id"]), headers=alice.headers), 404)
    assert await ids(client, alice) == []
    await problem(await client.delete(device_url(device["id"]), headers=admin.headers), 404)


# ---- assign and unassign -------------------------------------------------------------------


async def test_assign_reassign_and_unassign(client, admin, alice, bob, make_device):
    device = await make_device()
    url = owner_url(device["id"])

    body = await ok(await client.put(url, json={"user_id": alice.id}, headers=admin.headers))
    assert body["owner_id"] == alice.id
    assert await ids(client, alice) == [device["id"]]

    body = await ok(await client.put(url, json={"user_id": bob.id}, headers=admin.headers))
    assert body["owner_id"] == bob.id
    assert await ids(client, alice) == []
    assert await ids(client, bob) == [device["id"]]

    body = await ok(await client.delete(url, headers=admin.headers))
    assert body == {**device, "owner_id": None}
    assert await ids(client, bob) == []
    assert await ids(client, admin, orphans="true") == [device["id"]]

    # Unassigning an orphan is harmless.
    body = await ok(await client.delete(url, headers=admin.headers))
    assert body["owner_id"] is None


async def test_assign_to_a_missing_user_or_device_is_404(client, admin, alice, make_device):
    device = await make_device(alice)
    resp = await client.put(
        owner_url(device["id"]), json={"user_id": alice.id + 999}, headers=admin.headers
    )
    await problem(resp, 404)
    assert (await ok(await client.get(device_url(device["id"]), headers=admin.headers)))[
        "owner_id"
    ] == alice.id

    resp = await client.put(
        owner_url(device["id"] + 999), json={"user_id": alice.id}, headers=admin.headers
    )
    await problem(resp, 404)
    await problem(await client.delete(owner_url(device["id"] + 999), headers=admin.headers), 404)


async def test_assign_needs_a_user_id(client, admin, make_device):
    device = await make_device()
    resp = await client.put(owner_url(device["id"]), json={}, headers=admin.headers)
    body = await problem(resp, 422)
    assert {e["field"] for e in body["errors"]} == {"user_id"}


# ---- users see only their own ----------------------------------------------------------------


async def test_a_user_lists_only_their_devices(client, alice, bob, make_device):
    a1 = (await make_device(alice))["id"]
    b1 = (await make_device(bob))["id"]
    await make_device()
    a2 = (await make_device(alice))["id"]

    assert await ids(client, alice) == [a1, a2]
    assert await ids(client, bob) == [b1]
    # Filters that would show someone else's devices are ignored for users.
    assert await ids(client, alice, owner_id=bob.id) == [a1, a2]
    assert await ids(client, alice, orphans="true") == [a1, a2]
    page = await ok(await client.get(DEVICES, params={"limit": 1}, headers=alice.headers))
    assert [d["id"] for d in page["items"]] == [a1]
    assert page["total"] == 2


async def test_a_user_gets_their_device_but_not_others(client, alice, bob, make_device):
    mine = await make_device(alice, description="Alice meter")
    theirs = await make_device(bob, description="Bob meter")
    orphan = await make_device()

    assert await ok(await client.get(device_url(mine["id"]), headers=alice.headers)) == mine
    for other in (theirs, orphan):
        body = await problem(await client.get(device_url(other["id"]), headers=alice.headers), 404)
        assert "Bob" not in body["detail"]
    # Indistinguishable from a device that does not exist.
    missing = await problem(
        await client.get(device_url(orphan["id"] + 999), headers=alice.headers), 404
    )
    assert missing["title"] == body["title"]


async def test_a_user_cannot_change_devices(client, alice, make_device):
    mine = await make_device(alice)
    url = device_url(mine["id"])
    await problem(await client.patch(url, json={"address": "x"}, headers=alice.headers), 403)
    await problem(await client.delete(url, headers=alice.headers), 403)
    await problem(await client.delete(owner_url(mine["id"]), headers=alice.headers), 403)
    await problem(
        await client.post(
            DEVICES, json={"description": "Mine", "max_hourly_kwh": 1}, headers=alice.headers
        ),
        403,
    )
    assert await ok(await client.get(url, headers=alice.headers)) == mine
