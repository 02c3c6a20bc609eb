"""Sessions end on the server: logout, password changes, admin changes; ids are never reused;
CSRF tokens are bound to the session; common passwords are refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from energymon.models import Role
from tests.api.helpers import NEW_PASSWORD, error_fields, ok, problem
from tests.conftest import PASSWORD, build_app, make_config, sqlite_only

ME = "/api/v1/me"


async def login(client: TestClient, email: str, password: str = PASSWORD) -> str:
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return (await ok(resp))["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_deleted_users_token_never_becomes_the_next_accounts(client, admin, alice):
    """alice has the highest id; after her deletion a new admin must not inherit her token."""
    token = await login(client, alice.user.email)
    await ok(await client.delete(f"/api/v1/users/{alice.id}", headers=admin.headers), 204)
    body = {
        "email": "new-admin@example.com",
        "password": NEW_PASSWORD,
        "name": "New",
        "role": "admin",
    }
    created = await ok(await client.post("/api/v1/users", json=body, headers=admin.headers), 201)
    assert created["id"] > alice.id
    await problem(await client.get("/api/v1/users", headers=bearer(token)), 401)
    await problem(await client.get(ME, headers=bearer(token)), 401)


async def test_a_deleted_devices_id_is_never_reused(client, admin, make_device):
    first = await make_device()
    await ok(await client.delete(f"/api/v1/devices/{first['id']}", headers=admin.headers), 204)
    assert (await make_device())["id"] > first["id"]


async def test_logout_ends_only_that_tokens_session(client, alice):
    first, second = await login(client, alice.user.email), await login(client, alice.user.email)
    await ok(await client.post("/api/v1/auth/logout", headers=bearer(first)), 204)
    await problem(await client.get(ME, headers=bearer(first)), 401)
    await ok(await client.get(ME, headers=bearer(second)))


async def test_changing_my_password_ends_my_other_sessions(client, alice):
    here, elsewhere = await login(client, alice.user.email), await login(client, alice.user.email)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    await ok(await client.post("/api/v1/me/password", json=body, headers=bearer(here)), 204)
    await ok(await client.get(ME, headers=bearer(here)))
    await problem(await client.get(ME, headers=bearer(elsewhere)), 401)
    resp = await client.post(
        "/api/v1/auth/login", json={"email": alice.user.email, "password": PASSWORD}
    )
    await problem(resp, 401)
    await login(client, alice.user.email, NEW_PASSWORD)


@sqlite_only
async def test_changing_my_password_needs_the_current_one(client, alice):
    body = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    resp = await client.post("/api/v1/me/password", json=body, headers=alice.headers)
    assert error_fields(await problem(resp, 422)) == {"current_password"}
    await ok(await client.get(ME, headers=alice.headers))


@sqlite_only
async def test_guessing_the_current_password_is_throttled_like_logins(
    aiohttp_client, db_url, make_actor
):
    """A stolen token must not become a way to guess the password faster than logging in."""
    client = await aiohttp_client(build_app(make_config(db_url, auth={"login_max_failures": 3})))
    alice = await make_actor(email="alice@example.com")
    for n in range(3):
        body = {"current_password": f"guess {n}", "new_password": NEW_PASSWORD}
        resp = await client.post("/api/v1/me/password", json=body, headers=alice.headers)
        await problem(resp, 422)
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    resp = await client.post("/api/v1/me/password", json=body, headers=alice.headers)
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1
    # The guesses count for the account's logins from that client too.
    resp = await client.post(
        "/api/v1/auth/login", json={"email": "alice@example.com", "password": PASSWORD}
    )
    await problem(resp, 429)


@pytest.mark.parametrize(
    "change",
    [{"disabled": True}, {"role": "admin"}, {"password": NEW_PASSWORD}],
    ids=["disable", "role", "password"],
)
async def test_an_admins_change_ends_every_session_of_the_account(client, admin, alice, change):
    tokens = [alice.token, await login(client, alice.user.email)]
    url = f"/api/v1/users/{alice.id}"
    await ok(await client.patch(url, json=change, headers=admin.headers))
    if change.get("disabled"):
        await ok(await client.patch(url, json={"disabled": False}, headers=admin.headers))
    for token in tokens:
        await problem(await client.get(ME, headers=bearer(token)), 401)


async def test_a_renamed_account_keeps_its_sessions(client, admin, alice):
    url = f"/api/v1/users/{alice.id}"
    await ok(await client.patch(url, json={"name": "Alice B."}, headers=admin.headers))
    await ok(await client.get(ME, headers=alice.headers))


# ---- passwords -----------------------------------------------------------------------------


@sqlite_only
@pytest.mark.parametrize("password", ["12345678", "password", "Password1", "qwertyuiop"])
async def test_common_passwords_are_refused_everywhere(client, admin, alice, password):
    register = {"email": "new@example.com", "password": password, "name": "New"}
    resp = await client.post("/api/v1/auth/register", json=register)
    assert error_fields(await problem(resp, 422)) == {"password"}
    resp = await client.post("/api/v1/users", json=register, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"password"}
    url = f"/api/v1/users/{alice.id}"
    resp = await client.patch(url, json={"password": password}, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"password"}
    body = {"current_password": PASSWORD, "new_password": password}
    resp = await client.post("/api/v1/me/password", json=body, headers=alice.headers)
    assert error_fields(await problem(resp, 422)) == {"new_password"}


@sqlite_only
async def test_the_accounts_own_email_is_refused_as_its_password(client, admin, alice):
    register = {"email": "Mia.Long@example.com", "password": "mia.long@example.com", "name": "M"}
    resp = await client.post("/api/v1/auth/register", json=register)
    assert error_fields(await problem(resp, 422)) == {"password"}
    url = f"/api/v1/users/{alice.id}"
    resp = await client.patch(url, json={"password": alice.user.email}, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"password"}


# ---- browser sessions and CSRF -------------------------------------------------------------


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _browser_login(client: TestClient, email: str) -> str:
    """Log in through the form; returns the CSRF token the page's scripts would send."""
    page = await client.get("/login")
    form = {"email": email, "password": PASSWORD, "csrf": _csrf_of(await page.text())}
    resp = await client.post("/login", data=form, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return client.session.cookie_jar.filter_cookies(client.make_url("/"))["energymon_csrf"].value


@sqlite_only
async def test_a_planted_csrf_cookie_and_header_pair_is_refused(client, alice):
    await _browser_login(client, alice.user.email)
    client.session.cookie_jar.update_cookies({"energymon_csrf": "planted-by-someone"})
    resp = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "planted-by-someone"})
    await problem(resp, 403)
    await ok(await client.get(ME))


@sqlite_only
async def test_the_csrf_token_of_another_session_is_refused(aiohttp_client, config, alice):
    other = await aiohttp_client(build_app(config))
    others_token = await _browser_login(other, alice.user.email)
    client = await aiohttp_client(build_app(config))
    mine = await _browser_login(client, alice.user.email)
    assert mine != others_token
    client.session.cookie_jar.update_cookies({"energymon_csrf": others_token})
    await problem(
        await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": others_token}), 403
    )
    await ok(await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": mine}), 204)
    await problem(await client.get(ME), 401)


@sqlite_only
async def test_a_planted_pair_on_the_anonymous_login_form_is_refused(client, alice):
    client.session.cookie_jar.update_cookies({"energymon_csrf": "planted"})
    form = {"email": alice.user.email, "password": PASSWORD, "csrf": "planted"}
    resp = await client.post("/login", data=form, allow_redirects=False)
    assert resp.status == 403


async def test_the_page_logout_ends_the_session_on_the_server(client, alice):
    await _browser_login(client, alice.user.email)
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    token = jar["energymon_session"].value
    page = await client.get("/app")
    resp = await client.post(
        "/logout", data={"csrf": _csrf_of(await page.text())}, allow_redirects=False
    )
    assert resp.status == 303
    await problem(await client.get(ME, headers=bearer(token)), 401)


@sqlite_only
async def test_cookies_carry_the_host_prefix_over_tls(aiohttp_client, db_url, alice):
    config = make_config(db_url, server={"trust_proxy": True})
    client = await aiohttp_client(build_app(config))
    tls = {"X-Forwarded-Proto": "https"}
    page = await client.get("/login", headers=tls)
    names = {c.key for c in page.cookies.values()}
    assert names == {"__Host-energymon_csrf", "__Host-energymon_visitor"}
    form = {"email": alice.user.email, "password": PASSWORD, "csrf": _csrf_of(await page.text())}
    # Secure cookies: the test client would not send them over plain HTTP by itself.
    sent = "; ".join(f"{c.key}={c.value}" for c in page.cookies.values())
    resp = await client.post(
        "/login", data=form, headers=tls | {"Cookie": sent}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    cookies: dict[str, Any] = {c.key: c for c in resp.cookies.values()}
    assert {"__Host-energymon_session", "__Host-energymon_csrf"} <= cookies.keys()
    for cookie in cookies.values():
        assert cookie["secure"] and cookie["path"] == "/" and not cookie["domain"]


async def test_a_user_cannot_change_roles_by_logging_out(client, admin, make_actor):
    # Logging out is an account action like any other: an admin's logout ends only theirs.
    other = await make_actor(Role.ADMIN)
    await ok(await client.post("/api/v1/auth/logout", headers=other.headers), 204)
    await ok(await client.get("/api/v1/users", headers=admin.headers))


@sqlite_only
async def test_the_register_page_shows_a_common_password_next_to_its_field(client):
    page = await client.get("/register")
    form = {
        "email": "new@example.com",
        "name": "New",
        "password": "12345678",
        "csrf": _csrf_of(await page.text()),
    }
    resp = await client.post("/register", data=form, allow_redirects=False)
    assert resp.status == 422
    html = await resp.text()
    shown = re.search(r'<small class="field-error" data-for="password">([^<]+)</small>', html)
    assert shown and "common" in shown.group(1), html


async def test_an_admin_setting_their_own_password_keeps_this_session_only(client, admin):
    elsewhere = await login(client, admin.user.email)
    url = f"/api/v1/users/{admin.id}"
    await ok(await client.patch(url, json={"password": NEW_PASSWORD}, headers=admin.headers))
    await ok(await client.get("/api/v1/users", headers=admin.headers))
    await problem(await client.get(ME, headers=bearer(elsewhere)), 401)
