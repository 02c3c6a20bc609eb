"""Register, log in, who am I; long passwords, throttling, and tokens that must stop working."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import jwt
import pytest

from energymon.app import create_app
from energymon.auth.tokens import TokenIssuer
from energymon.models import Role
from energymon.storage import Database
from energymon.storage import users as users_store
from tests.api.helpers import ok, problem
from tests.conftest import JWT_SECRET, PASSWORD, build_app, make_config, sqlite_only

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/me"


async def login(client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return await client.post(LOGIN, json={"email": email, "password": password})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---- register, login, me -------------------------------------------------------------------


async def test_register_login_and_me(client):
    resp = await client.post(
        REGISTER,
        json={"email": "Carol@Example.COM", "password": "carol's passphrase", "name": " Carol "},
    )
    user = await ok(resp, 201)
    assert user["email"] == "carol@example.com"
    assert user["name"] == "Carol"
    assert user["role"] == "user"
    assert user["disabled"] is False
    assert "password" not in json.dumps(user)

    before = int(time.time())
    body = await ok(await login(client, "CAROL@example.com", "carol's passphrase"))
    assert body["token_type"] == "bearer"
    assert body["user"] == user
    token = body["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == str(user["id"])
    assert claims["role"] == "user"
    assert before + body["expires_in"] <= claims["exp"] <= int(time.time()) + body["expires_in"]

    assert await ok(await client.get(ME, headers=auth(token))) == user


@sqlite_only
async def test_the_app_hashes_at_the_configured_cost_unless_given_a_hasher(
    aiohttp_client, config, db: Database
):
    # Tests inject a cheap hasher; production builds its own from auth.bcrypt_rounds (>= 12).
    for app, email, cost in (
        (create_app(config), "prod@example.com", "12"),
        (build_app(config), "test@example.com", "04"),
    ):
        client = await aiohttp_client(app)
        body = {"email": email, "name": "Pat", "password": "a long passphrase"}
        await ok(await client.post(REGISTER, json=body), 201)
        async with db.read() as conn:
            user = await users_store.get_by_email(conn, email)
        assert user is not None and user.password_hash.startswith(f"$2b${cost}$")


async def test_register_rejects_a_taken_email_in_any_case(client, alice):
    resp = await client.post(
        REGISTER, json={"email": "ALICE@example.com", "password": PASSWORD, "name": "Alice 2"}
    )
    body = await problem(resp, 409)
    assert "alice@example.com" in body["detail"]


@sqlite_only
async def test_register_cannot_choose_the_admin_role(client):
    resp = await client.post(
        REGISTER,
        json={"email": "eve@example.com", "password": PASSWORD, "name": "Eve", "role": "admin"},
    )
    body = await problem(resp, 422)
    assert {e["field"] for e in body["errors"]} == {"role"}
    await problem(await login(client, "eve@example.com"), 401)


@sqlite_only
async def test_register_rejects_a_short_password(client):
    resp = await client.post(
        REGISTER, json={"email": "dan@example.com", "password": "short", "name": "Dan"}
    )
    body = await problem(resp, 422)
    assert {e["field"] for e in body["errors"]} == {"password"}


async def test_passwords_longer_than_72_bytes_count_in_full(client):
    long_password = "".join(chr(ord("a") + i % 26) for i in range(200))
    same_first_72 = long_password[:72] + "X" * 128
    await ok(
        await client.post(
            REGISTER, json={"email": "long@example.com", "password": long_password, "name": "L"}
        ),
        201,
    )
    await ok(await login(client, "long@example.com", long_password))
    await problem(await login(client, "long@example.com", same_first_72), 401)
    await problem(await login(client, "long@example.com", long_password[:72]), 401)


async def test_multibyte_password_over_72_bytes(client):
    password = "пароль-" * 12  # 156 bytes in UTF-8
    await ok(
        await client.post(
            REGISTER, json={"email": "ru@example.com", "password": password, "name": "R"}
        ),
        201,
    )
    await ok(await login(client, "ru@example.com", password))
    await problem(await login(client, "ru@example.com", password[:-1] + "!"), 401)


async def test_wrong_password_and_unknown_email_look_the_same(client, alice):
    wrong = await problem(await login(client, "alice@example.com", "not the password"), 401)
    unknown = await problem(await login(client, "nobody@example.com"), 401)
    assert wrong["detail"] == unknown["detail"]


@sqlite_only
async def test_me_needs_a_token(client):
    resp = await client.get(ME)
    await problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    await problem(await client.get(ME, headers={"Authorization": "Basic YTpi"}), 401)
    await problem(await client.get(ME, headers={"Authorization": "Bearer "}), 401)


# ---- throttling ----------------------------------------------------------------------------


@sqlite_only
async def test_login_failures_for_one_account_are_throttled(aiohttp_client, db_url, make_actor):
    client = await aiohttp_client(build_app(make_config(db_url, auth={"login_max_failures": 3})))
    await make_actor(email="alice@example.com")
    await make_actor(email="bob@example.com")
    for email in ("alice@example.com", "ALICE@example.com", " alice@example.com"):
        await problem(await login(client, email, "wrong password"), 401)

    resp = await login(client, "alice@example.com")  # even the right password
    body = await problem(resp, 429)
    assert "wait" in body["detail"]
    retry_after = int(resp.headers["Retry-After"])
    assert 1 <= retry_after <= 900

    # Another account from the same address is not affected.
    await ok(await login(client, "bob@example.com"))


@sqlite_only
async def test_login_failures_from_one_address_are_throttled(aiohttp_client, db_url, make_actor):
    cfg = make_config(db_url, auth={"login_max_failures": 100, "login_ip_max_failures": 3})
    client = await aiohttp_client(build_app(cfg))
    await make_actor(email="alice@example.com")
    for n in range(3):
        await problem(await login(client, f"guess{n}@example.com", "wrong password"), 401)

    resp = await login(client, "alice@example.com")
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1


@sqlite_only
async def test_a_successful_login_resets_the_account_count(aiohttp_client, db_url, make_actor):
    client = await aiohttp_client(build_app(make_config(db_url, auth={"login_max_failures": 2})))
    await make_actor(email="alice@example.com")
    await problem(await login(client, "alice@example.com", "wrong password"), 401)
    await ok(await login(client, "alice@example.com"))
    await problem(await login(client, "alice@example.com", "wrong password"), 401)
    await ok(await login(client, "alice@example.com"))


@sqlite_only
async def test_parallel_wrong_passwords_are_throttled_while_in_flight(
    aiohttp_client, db_url, make_actor
):
    client = await aiohttp_client(build_app(make_config(db_url)))  # 5 per account and client
    await make_actor(email="alice@example.com")
    answers = await asyncio.gather(
        *(login(client, "alice@example.com", f"guess {n}") for n in range(20))
    )
    statuses = sorted(resp.status for resp in answers)
    assert statuses.count(401) <= 5, statuses
    assert statuses.count(429) >= 15, statuses
    assert all(int(r.headers["Retry-After"]) >= 1 for r in answers if r.status == 429)


@sqlite_only
async def test_behind_a_proxy_each_client_has_its_own_count(aiohttp_client, db_url, make_actor):
    cfg = make_config(db_url, server={"trust_proxy": True}, auth={"login_max_failures": 2})
    client = await aiohttp_client(build_app(cfg))
    await make_actor(email="alice@example.com")

    async def login_from(address: str, password: str, spoofed: str = "198.51.100.7"):
        # The proxy appends the address it saw; what the client wrote stays on the left.
        return await client.post(
            LOGIN,
            json={"email": "alice@example.com", "password": password},
            headers={"X-Forwarded-For": f"{spoofed}, {address}"},
        )

    for n in range(2):
        await problem(await login_from("203.0.113.9", f"guess {n}"), 401)
    await problem(await login_from("203.0.113.9", "guess", spoofed="10.9.9.9"), 429)
    # The account's owner, elsewhere, is not locked out by the attacker.
    await ok(await login_from("192.0.2.44", PASSWORD))


@sqlite_only
async def test_registrations_per_address_are_limited(aiohttp_client, db_url):
    cfg = make_config(db_url, server={"trust_proxy": True}, limits={"registrations_per_hour": 2})
    client = await aiohttp_client(build_app(cfg))

    async def register(n: int, address: str):
        return await client.post(
            REGISTER,
            json={"email": f"new{n}@example.com", "password": PASSWORD, "name": "New"},
            headers={"X-Forwarded-For": address},
        )

    await ok(await register(1, "203.0.113.9"), 201)
    await ok(await register(2, "203.0.113.9"), 201)
    resp = await register(3, "203.0.113.9")
    await problem(resp, 429)
    assert int(resp.headers["Retry-After"]) >= 1
    await ok(await register(4, "192.0.2.44"), 201)


# ---- tokens that must stop working ---------------------------------------------------------


async def test_disabling_a_user_ends_their_session_at_once(client, admin, alice):
    await ok(await client.get(ME, headers=alice.headers))
    await ok(
        await client.patch(
            f"/api/v1/users/{alice.id}", json={"disabled": True}, headers=admin.headers
        )
    )
    await problem(await client.get(ME, headers=alice.headers), 401)
    await problem(await client.get("/api/v1/devices", headers=alice.headers), 401)
    await problem(await login(client, "alice@example.com"), 401)

    await ok(
        await client.patch(
            f"/api/v1/users/{alice.id}", json={"disabled": False}, headers=admin.headers
        )
    )
    # Enabled again, the account logs in afresh: its old sessions stay ended.
    await problem(await client.get(ME, headers=alice.headers), 401)
    token = (await ok(await login(client, "alice@example.com")))["access_token"]
    await ok(await client.get(ME, headers=auth(token)))


async def test_a_deleted_users_token_is_refused(client, admin, alice):
    await ok(await client.delete(f"/api/v1/users/{alice.id}", headers=admin.headers), 204)
    await problem(await client.get(ME, headers=alice.headers), 401)
    await problem(await client.get("/api/v1/devices", headers=alice.headers), 401)


async def test_a_demoted_admins_token_loses_admin_rights(client, admin, make_actor):
    other = await make_actor(Role.ADMIN)
    await ok(await client.get("/api/v1/users", headers=other.headers))
    await ok(
        await client.patch(
            f"/api/v1/users/{other.id}", json={"role": "user"}, headers=admin.headers
        )
    )
    # The token still says "admin", but the role change ended its session.
    assert jwt.decode(other.token, JWT_SECRET, algorithms=["HS256"])["role"] == "admin"
    await problem(await client.get("/api/v1/users", headers=other.headers), 401)
    token = (await ok(await login(client, other.user.email)))["access_token"]
    await problem(await client.get("/api/v1/users", headers=auth(token)), 403)
    assert (await ok(await client.get(ME, headers=auth(token))))["role"] == "user"


def _claims(user_id: int, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": str(user_id),
        "sid": "0" * 32,
        "role": "admin",
        "iat": now,
        "exp": now + 3600,
        "iss": "energymon",
        **extra,
    }


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda uid: f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(uid))}.",
            id="alg-none",
        ),
        pytest.param(
            lambda uid: jwt.encode(_claims(uid), "some-other-secret-" + "y" * 40, "HS256"),
            id="wrong-signature",
        ),
        pytest.param(
            lambda uid: TokenIssuer(JWT_SECRET, 60).issue(
                uid, Role.ADMIN, "0" * 32, now=time.time() - 3600
            ),
            id="expired",
        ),
        pytest.param(
            lambda uid: jwt.encode(_claims(uid, iss="elsewhere"), JWT_SECRET, "HS256"),
            id="wrong-issuer",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {k: v for k, v in _claims(uid).items() if k != "exp"}, JWT_SECRET, "HS256"
            ),
            id="no-expiry",
        ),
        pytest.param(
            lambda uid: jwt.encode(_claims(uid), JWT_SECRET, "HS512"),
            id="other-algorithm",
            marks=pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
        ),
        pytest.param(
            lambda uid: jwt.encode(_claims(uid, sub="not-a-number"), JWT_SECRET, "HS256"),
            id="bad-subject",
        ),
        pytest.param(lambda uid: "not.a.token", id="garbage"),
    ],
)
@sqlite_only
async def test_bad_tokens_are_refused(client, admin, forge):
    token = forge(admin.id)
    resp = await client.get("/api/v1/users", headers=auth(token))
    body = await problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in body["detail"]


@sqlite_only
async def test_a_tampered_payload_is_refused(client, alice):
    header, _payload, signature = alice.token.split(".")
    forged = f"{header}.{_b64(_claims(alice.id))}.{signature}"
    await problem(await client.get(ME, headers=auth(forged)), 401)
