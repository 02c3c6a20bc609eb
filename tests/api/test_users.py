"""The admin users API: list, search, get, create, update, delete, and the self-protection."""

from __future__ import annotations

from energymon.models import Role
from tests.api.helpers import NEW_PASSWORD, error_fields, ok, problem
from tests.conftest import PASSWORD, sqlite_only

USERS = "/api/v1/users"


def user_url(user_id: int) -> str:
    return f"{USERS}/{user_id}"


async def login(client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


# ---- list ----------------------------------------------------------------------------------


async def test_list_is_paginated_in_id_order(client, admin, make_actor):
    made = [await make_actor() for _ in range(7)]
    all_ids = [admin.id] + [a.id for a in made]

    page = await ok(await client.get(USERS, headers=admin.headers))
    assert (page["total"], page["limit"], page["offset"]) == (8, 50, 0)
    assert [u["id"] for u in page["items"]] == all_ids

    page = await ok(await client.get(USERS, params={"limit": 3}, headers=admin.headers))
    assert [u["id"] for u in page["items"]] == all_ids[:3]
    assert (page["total"], page["limit"], page["offset"]) == (8, 3, 0)

    page = await ok(
        await client.get(USERS, params={"limit": 3, "offset": 6}, headers=admin.headers)
    )
    assert [u["id"] for u in page["items"]] == all_ids[6:]
    assert (page["total"], page["offset"]) == (8, 6)

    page = await ok(await client.get(USERS, params={"offset": 100}, headers=admin.headers))
    assert page["items"] == []
    assert page["total"] == 8


async def test_list_limit_is_capped_at_100(client, admin, make_actor):
    for _ in range(101):
        await make_actor()
    page = await ok(await client.get(USERS, params={"limit": 1000}, headers=admin.headers))
    assert page["limit"] == 100
    assert len(page["items"]) == 100
    assert page["total"] == 102


async def test_list_items_carry_no_secrets(client, admin, alice):
    page = await ok(await client.get(USERS, headers=admin.headers))
    alice_out = next(u for u in page["items"] if u["id"] == alice.id)
    assert set(alice_out) == {"id", "email", "name", "role", "disabled", "created_at"}
    assert alice_out["email"] == "alice@example.com"
    assert alice_out["role"] == "user"


async def test_search_by_email_substring_ignores_case(client, admin, make_actor):
    ada = await make_actor(email="ada.lovelace@example.com")
    grace = await make_actor(email="grace@lovelace.org")
    await make_actor(email="linus@example.com")

    page = await ok(await client.get(USERS, params={"q": "LoveLace"}, headers=admin.headers))
    assert [u["id"] for u in page["items"]] == [ada.id, grace.id]
    assert page["total"] == 2

    page = await ok(
        await client.get(USERS, params={"q": "lovelace", "limit": 1}, headers=admin.headers)
    )
    assert [u["id"] for u in page["items"]] == [ada.id]
    assert page["total"] == 2

    page = await ok(await client.get(USERS, params={"q": "nobody"}, headers=admin.headers))
    assert (page["items"], page["total"]) == ([], 0)


async def test_search_takes_wildcards_literally(client, admin, make_actor):
    under = await make_actor(email="under_score@example.com")
    await make_actor(email="underXscore@example.com")
    page = await ok(await client.get(USERS, params={"q": "under_"}, headers=admin.headers))
    assert [u["id"] for u in page["items"]] == [under.id]
    page = await ok(await client.get(USERS, params={"q": "%"}, headers=admin.headers))
    assert page["total"] == 0


# ---- get, create ---------------------------------------------------------------------------


async def test_get_a_user(client, admin, alice):
    body = await ok(await client.get(user_url(alice.id), headers=admin.headers))
    assert body["id"] == alice.id
    assert body["email"] == "alice@example.com"
    body = await problem(await client.get(user_url(alice.id + 1000), headers=admin.headers), 404)
    assert str(alice.id + 1000) in body["detail"]


async def test_create_an_admin_who_can_log_in(client, admin):
    resp = await client.post(
        USERS,
        json={
            "email": "Root2@Example.com",
            "password": NEW_PASSWORD,
            "name": "Second Admin",
            "role": "admin",
        },
        headers=admin.headers,
    )
    created = await ok(resp, 201)
    assert created["email"] == "root2@example.com"
    assert created["role"] == "admin"
    assert created["disabled"] is False
    assert await ok(await client.get(user_url(created["id"]), headers=admin.headers)) == created

    token = (await ok(await login(client, "root2@example.com", NEW_PASSWORD)))["access_token"]
    await ok(await client.get(USERS, headers={"Authorization": f"Bearer {token}"}))


async def test_create_defaults_to_user_and_can_start_disabled(client, admin):
    resp = await client.post(
        USERS,
        json={
            "email": "off@example.com",
            "password": NEW_PASSWORD,
            "name": "Off",
            "disabled": True,
        },
        headers=admin.headers,
    )
    created = await ok(resp, 201)
    assert (created["role"], created["disabled"]) == ("user", True)
    await problem(await login(client, "off@example.com", NEW_PASSWORD), 401)


async def test_create_with_a_taken_email_in_any_case_conflicts(client, admin, alice):
    resp = await client.post(
        USERS,
        json={"email": "Alice@EXAMPLE.com", "password": NEW_PASSWORD, "name": "Again"},
        headers=admin.headers,
    )
    await problem(resp, 409)
    page = await ok(await client.get(USERS, params={"q": "alice"}, headers=admin.headers))
    assert page["total"] == 1


@sqlite_only
async def test_create_rejects_an_unknown_role(client, admin):
    resp = await client.post(
        USERS,
        json={"email": "x@example.com", "password": NEW_PASSWORD, "name": "X", "role": "root"},
        headers=admin.headers,
    )
    assert error_fields(await problem(resp, 422)) == {"role"}


# ---- update --------------------------------------------------------------------------------


async def test_update_email_name_role(client, admin, alice):
    resp = await client.patch(
        user_url(alice.id),
        json={"email": "Alice.New@Example.com", "name": "  Alice N.  ", "role": "admin"},
        headers=admin.headers,
    )
    body = await ok(resp)
    assert (body["email"], body["name"], body["role"]) == (
        "alice.new@example.com",
        "Alice N.",
        "admin",
    )
    assert await ok(await client.get(user_url(alice.id), headers=admin.headers)) == body
    # A role change ends the account's sessions; the next login has the new role.
    await problem(await client.get(USERS, headers=alice.headers), 401)
    token = (await ok(await login(client, "alice.new@example.com")))["access_token"]
    await ok(await client.get(USERS, headers={"Authorization": f"Bearer {token}"}))


async def test_update_leaves_unsent_fields_alone(client, admin, alice):
    before = await ok(await client.get(user_url(alice.id), headers=admin.headers))
    after = await ok(await client.patch(user_url(alice.id), json={}, headers=admin.headers))
    assert after == before
    after = await ok(
        await client.patch(user_url(alice.id), json={"name": "Al"}, headers=admin.headers)
    )
    assert after == {**before, "name": "Al"}


async def test_update_password(client, admin, alice):
    await ok(
        await client.patch(
            user_url(alice.id), json={"password": NEW_PASSWORD}, headers=admin.headers
        )
    )
    await problem(await login(client, "alice@example.com", PASSWORD), 401)
    await ok(await login(client, "alice@example.com", NEW_PASSWORD))


async def test_update_to_a_taken_email_conflicts(client, admin, alice, bob):
    resp = await client.patch(
        user_url(alice.id), json={"email": "BOB@example.com"}, headers=admin.headers
    )
    await problem(resp, 409)
    body = await ok(await client.get(user_url(alice.id), headers=admin.headers))
    assert body["email"] == "alice@example.com"


@sqlite_only
async def test_update_refuses_null(client, admin, alice):
    resp = await client.patch(user_url(alice.id), json={"name": None}, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"name"}


async def test_update_a_missing_user(client, admin):
    resp = await client.patch(user_url(admin.id + 999), json={"name": "X"}, headers=admin.headers)
    await problem(resp, 404)


# ---- delete --------------------------------------------------------------------------------


async def test_delete_a_user_orphans_their_devices(client, admin, alice, bob, make_device):
    mine = await make_device(alice, description="Alice meter")
    kept = await make_device(bob, description="Bob meter")

    await ok(await client.delete(user_url(alice.id), headers=admin.headers), 204)
    await problem(await client.get(user_url(alice.id), headers=admin.headers), 404)
    await problem(await client.delete(user_url(alice.id), headers=admin.headers), 404)

    device = await ok(await client.get(f"/api/v1/devices/{mine['id']}", headers=admin.headers))
    assert device["owner_id"] is None
    assert device["description"] == "Alice meter"
    orphans = await ok(
        await client.get("/api/v1/devices", params={"orphans": "true"}, headers=admin.headers)
    )
    assert [d["id"] for d in orphans["items"]] == [mine["id"]]
    bobs = await ok(await client.get(f"/api/v1/devices/{kept['id']}", headers=admin.headers))
    assert bobs["owner_id"] == bob.id


async def test_an_admin_can_delete_another_admin(client, admin, make_actor):
    other = await make_actor(Role.ADMIN)
    await ok(await client.delete(user_url(other.id), headers=admin.headers), 204)
    await problem(await client.get(USERS, headers=other.headers), 401)


# ---- an admin cannot lock themselves out ---------------------------------------------------


@sqlite_only
async def test_admin_cannot_delete_themselves(client, admin):
    await problem(await client.delete(user_url(admin.id), headers=admin.headers), 409)
    await ok(await client.get(user_url(admin.id), headers=admin.headers))


@sqlite_only
async def test_admin_cannot_disable_themselves(client, admin):
    resp = await client.patch(user_url(admin.id), json={"disabled": True}, headers=admin.headers)
    await problem(resp, 409)
    await ok(await client.get(USERS, headers=admin.headers))


@sqlite_only
async def test_admin_cannot_demote_themselves(client, admin):
    resp = await client.patch(
        user_url(admin.id), json={"role": "user", "name": "Still Me"}, headers=admin.headers
    )
    await problem(resp, 409)
    body = await ok(await client.get(user_url(admin.id), headers=admin.headers))
    assert (body["role"], body["name"]) == ("admin", "Admin")


async def test_admin_can_still_edit_their_own_details(client, admin):
    resp = await client.patch(
        user_url(admin.id),
        json={"name": "Chief", "role": "admin", "disabled": False},
        headers=admin.headers,
    )
    body = await ok(resp)
    assert (body["name"], body["role"], body["disabled"]) == ("Chief", "admin", False)


@sqlite_only
async def test_an_email_too_long_once_lower_cased_is_422(client, admin, alice):
    # 252 characters as sent; "İ" lower-cases to two code points, so 492 once normalised.
    email = "İ" * 240 + "@example.com"
    resp = await client.post(
        USERS,
        json={"email": email, "password": NEW_PASSWORD, "name": "Dotted"},
        headers=admin.headers,
    )
    assert error_fields(await problem(resp, 422)) == {"email"}
    resp = await client.patch(user_url(alice.id), json={"email": email}, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"email"}
    resp = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": NEW_PASSWORD, "name": "Dotted"}
    )
    assert error_fields(await problem(resp, 422)) == {"email"}
    page = await ok(await client.get(USERS, headers=admin.headers))
    assert page["total"] == 2

    # Within the limit, such an address is stored in lower case like any other.
    resp = await client.post(
        USERS,
        json={"email": "İstanbul@example.com", "password": NEW_PASSWORD, "name": "Ist"},
        headers=admin.headers,
    )
    assert (await ok(resp, 201))["email"] == "i̇stanbul@example.com"
