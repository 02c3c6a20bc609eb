"""Browser sessions over HTTP: the cookies, CSRF double submit, page redirects and headers."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from energymon.app import SECURITY_HEADERS
from tests.api.helpers import ok, problem
from tests.conftest import PASSWORD, Actor, build_app, make_config, sqlite_only


def _cookies(resp: Any) -> dict[str, Any]:
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return {name: jar[name] for name in jar}


async def _login_form(client: TestClient, email: str, password: str = PASSWORD, **extra: str):
    page = await client.get("/login")
    assert page.status == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    form = {"email": email, "password": password, "csrf": csrf, "next": "", **extra}
    return await client.post("/login", data=form, allow_redirects=False)


async def test_login_sets_an_httponly_session_and_a_csrf_cookie(
    client: TestClient, alice: Actor, admin: Actor
) -> None:
    resp = await _login_form(client, alice.user.email)
    assert resp.status == 303 and resp.headers["Location"] == "/app"
    cookies = _cookies(resp)
    session, csrf = cookies["energymon_session"], cookies["energymon_csrf"]
    assert session["httponly"] and session["samesite"] == "Lax" and session["path"] == "/"
    assert not session["secure"], "plain HTTP: a Secure cookie would never come back"
    assert not csrf["httponly"] and csrf["samesite"] == "Lax"
    assert int(session["max-age"]) == 3600 * 12

    client.session.cookie_jar.clear()
    resp = await _login_form(client, admin.user.email)
    assert resp.headers["Location"] == "/admin"


@sqlite_only
@pytest.mark.parametrize(
    ("trust_proxy", "forwarded", "secure"),
    [(False, "https", False), (True, "https", True), (True, "http", False)],
)
async def test_secure_cookies_behind_a_trusted_proxy_only(
    aiohttp_client: Any, db_url: str, alice: Actor, trust_proxy: bool, forwarded: str, secure: bool
) -> None:
    config = make_config(db_url, server={"trust_proxy": trust_proxy})
    client = await aiohttp_client(build_app(config))
    page = await client.get("/login", headers={"X-Forwarded-Proto": forwarded})
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)
    # Over TLS the cookies carry the __Host- prefix.
    prefix = "__Host-" if secure else ""
    assert bool(_cookies(page)[prefix + "energymon_csrf"]["secure"]) is secure
    # The client speaks plain HTTP to the test server, so it would hold back a Secure cookie;
    # a browser behind the TLS proxy sends it.
    sent = "; ".join(f"{c.key}={c.value}" for c in page.cookies.values())
    resp = await client.post(
        "/login",
        data={"email": alice.user.email, "password": PASSWORD, "csrf": csrf},
        headers={"X-Forwarded-Proto": forwarded, "Cookie": sent},
        allow_redirects=False,
    )
    assert resp.status == 303
    cookies = _cookies(resp)
    assert bool(cookies[prefix + "energymon_session"]["secure"]) is secure
    assert bool(cookies[prefix + "energymon_csrf"]["secure"]) is secure


@sqlite_only
async def test_login_form_needs_its_csrf_token(client: TestClient, alice: Actor) -> None:
    await client.get("/login")
    resp = await client.post(
        "/login",
        data={"email": alice.user.email, "password": PASSWORD, "csrf": "forged"},
        allow_redirects=False,
    )
    assert resp.status == 403
    assert "energymon_session" not in _cookies(resp)


@sqlite_only
async def test_cookie_calls_need_the_csrf_header_to_change_anything(
    client: TestClient, alice: Actor, admin: Actor
) -> None:
    resp = await _login_form(client, admin.user.email)
    csrf = _cookies(resp)["energymon_csrf"].value
    # Reading needs no token.
    me = await ok(await client.get("/api/v1/me"))
    assert me["email"] == admin.user.email
    body = {"description": "Cookie meter", "max_hourly_kwh": 1.5}
    refused = await problem(await client.post("/api/v1/devices", json=body), 403)
    assert "X-CSRF-Token" in refused["detail"]
    await problem(
        await client.post("/api/v1/devices", json=body, headers={"X-CSRF-Token": "wrong"}), 403
    )
    made = await ok(
        await client.post("/api/v1/devices", json=body, headers={"X-CSRF-Token": csrf}), 201
    )
    await problem(await client.delete(f"/api/v1/devices/{made['id']}"), 403)
    await ok(
        await client.delete(f"/api/v1/devices/{made['id']}", headers={"X-CSRF-Token": csrf}), 204
    )
    # A bearer token needs no CSRF token, cookie or not, and speaks for its own account.
    resp = await client.patch(
        f"/api/v1/users/{alice.id}", json={"name": "Al"}, headers=admin.headers
    )
    assert (await ok(resp))["name"] == "Al"
    me = await ok(await client.get("/api/v1/me", headers=alice.headers))
    assert me["email"] == alice.user.email


async def test_logout_clears_the_session(client: TestClient, alice: Actor) -> None:
    resp = await _login_form(client, alice.user.email)
    csrf = _cookies(resp)["energymon_csrf"].value
    forged = await client.post("/logout", data={"csrf": "nope"}, allow_redirects=False)
    assert forged.status == 303
    await ok(await client.get("/api/v1/me"))
    out = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"].startswith("/login")
    await problem(await client.get("/api/v1/me"), 401)
    page = await client.get("/app", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login?next=/app"


@sqlite_only
@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("/alerts", "/alerts"),
        ("//evil.example/x", "/app"),
        ("/\\evil.example", "/app"),
        ("https://evil.example/", "/app"),
    ],
)
async def test_login_returns_only_to_local_paths(
    client: TestClient, alice: Actor, next_path: str, landing: str
) -> None:
    resp = await _login_form(client, alice.user.email, next=next_path)
    assert resp.headers["Location"] == landing


async def test_pages_enforce_roles(client: TestClient, alice: Actor, admin: Actor) -> None:
    anonymous = await client.get("/admin?x=1", allow_redirects=False)
    assert anonymous.status == 303
    assert anonymous.headers["Location"] == "/login?next=/admin?x%3D1"
    await _login_form(client, alice.user.email)
    forbidden = await client.get("/admin")
    assert forbidden.status == 403
    assert "This page is for administrators" in await forbidden.text()
    assert (await client.get("/app")).status == 200
    client.session.cookie_jar.clear()
    await _login_form(client, admin.user.email)
    assert (await client.get("/admin")).status == 200


async def test_a_disabled_account_loses_its_pages_at_once(
    client: TestClient, alice: Actor, admin: Actor
) -> None:
    await _login_form(client, alice.user.email)
    assert (await client.get("/app")).status == 200
    await ok(
        await client.patch(
            f"/api/v1/users/{alice.id}", json={"disabled": True}, headers=admin.headers
        )
    )
    assert (await client.get("/app", allow_redirects=False)).status == 303
    await problem(await client.get("/api/v1/me"), 401)


@sqlite_only
async def test_every_page_has_the_security_headers(client: TestClient, alice: Actor) -> None:
    pages = ["/login", "/register", "/static/app.css", "/vendor/chart.umd.min.js"]
    for path in pages:
        resp = await client.get(path)
        assert resp.status == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert resp.headers[name] == value, (path, name)
    await _login_form(client, alice.user.email)
    for path in ["/app", "/alerts"]:
        resp = await client.get(path)
        assert resp.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        html = await resp.text()
        # No inline scripts or styles: every script is a file of ours.
        assert not re.search(r"<script(?![^>]*\bsrc=)", html)
        assert "<style" not in html and " style=" not in html


@sqlite_only
async def test_only_the_listed_browser_library_files_are_served(client: TestClient) -> None:
    js = await client.get("/vendor/socket.io.esm.min.js")
    assert js.status == 200 and js.content_type == "text/javascript"
    for path in ["/vendor/package.json", "/vendor/..%2Fpackage.json", "/vendor/chart.js"]:
        assert (await client.get(path)).status == 404, path


@sqlite_only
async def test_a_missing_page_is_a_page_and_a_missing_api_path_a_problem(
    client: TestClient,
) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    page = await client.get("/no-such-page", headers=html)
    assert page.status == 404 and page.content_type == "text/html"
    assert "There is no page here" in await page.text()
    await problem(await client.get("/api/v1/no-such-thing", headers=html), 404)
    await problem(await client.get("/no-such-page"), 404)
