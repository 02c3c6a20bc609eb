"""Bad input gets a precise 4xx problem document, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from energymon.models import Role
from tests.api.helpers import (
    account_secured,
    error_fields,
    fill_path,
    ok,
    operations,
    problem,
    problem_shape,
    valid_body,
    valid_query,
)
from tests.conftest import Actor, build_app, make_config, sqlite_only

USERS = "/api/v1/users"
DEVICES = "/api/v1/devices"
JSON = {"Content-Type": "application/json"}


def with_json(actor: Actor) -> dict[str, str]:
    """The actor's token plus a JSON content type, for bodies sent as raw bytes."""
    return {**JSON, **actor.headers}


# ---- the body as a whole -------------------------------------------------------------------


@sqlite_only
async def test_body_over_the_size_limit_is_413(aiohttp_client, db_url, make_actor):
    client = await aiohttp_client(build_app(make_config(db_url, server={"max_body_bytes": 1024})))
    admin = await make_actor(Role.ADMIN)
    resp = await client.post(
        DEVICES, json={"description": "n" * 2000, "max_hourly_kwh": 1}, headers=admin.headers
    )
    await problem(resp, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: streamed
        yield b'{"description": "'
        for _ in range(20):
            yield b"x" * 100
        yield b'", "max_hourly_kwh": 1}'

    resp = await client.post(DEVICES, data=chunks(), headers=with_json(admin))
    await problem(resp, 413)
    page = await ok(await client.get(DEVICES, headers=admin.headers))
    assert page["total"] == 0

    # Just under the limit is fine.
    small = '{"description": "' + "x" * 150 + '", "max_hourly_kwh": 1}'
    await ok(await client.post(DEVICES, data=small, headers=with_json(admin)), 201)


@sqlite_only
@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", '{"description": "x", "max_hourly_kwh": 1}'),
        ("application/x-www-form-urlencoded", "description=x&max_hourly_kwh=1"),
        ("application/merge-patch+json", '{"description": "x", "max_hourly_kwh": 1}'),
        ("application/json; charset=latin-1", '{"description": "x", "max_hourly_kwh": 1}'),
        (None, '{"description": "x", "max_hourly_kwh": 1}'),
    ],
)
async def test_a_body_that_is_not_json_is_415(client, admin, content_type, data):
    headers = dict(admin.headers)
    if content_type:
        headers["Content-Type"] = content_type
    resp = await client.post(DEVICES, data=data.encode(), headers=headers)
    await problem(resp, 415)


@sqlite_only
async def test_json_with_a_charset_parameter_is_accepted(client, admin):
    resp = await client.post(
        DEVICES,
        data='{"description": "x", "max_hourly_kwh": 1}',
        headers={**admin.headers, "Content-Type": "application/json; charset=utf-8"},
    )
    await ok(resp, 201)


@sqlite_only
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"description": "x", ', id="truncated"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   ", id="blank"),
        pytest.param(b"{'description': 'x'}", id="single-quotes"),
        pytest.param(b'{"description": "x",}', id="trailing-comma"),
        pytest.param(b'{"description": "\xff\xfe"}', id="not-utf8"),
        pytest.param(b'{"a": 1} {"b": 2}', id="two-documents"),
        pytest.param(b"[" * 100_000, id="deep-nesting"),
    ],
)
async def test_malformed_json_is_400(aiohttp_client, db_url, make_actor, raw):
    cfg = make_config(db_url, server={"max_body_bytes": 1_000_000})
    client = await aiohttp_client(build_app(cfg))
    admin = await make_actor(Role.ADMIN)
    resp = await client.post(DEVICES, data=raw, headers=with_json(admin))
    await problem(resp, 400)


@sqlite_only
async def test_duplicate_keys_are_400(client, admin):
    resp = await client.post(
        USERS,
        data='{"email": "a@example.com", "email": "b@example.com", "name": "A", '
        '"password": "long enough"}',
        headers=with_json(admin),
    )
    body = await problem(resp, 400)
    assert "email" in body["detail"]
    page = await ok(await client.get(USERS, headers=admin.headers))
    assert page["total"] == 1


@sqlite_only
@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
async def test_non_finite_numbers_are_400(client, admin, number):
    resp = await client.post(
        DEVICES,
        data=f'{{"description": "x", "max_hourly_kwh": {number}}}',
        headers=with_json(admin),
    )
    await problem(resp, 400)


@sqlite_only
@pytest.mark.parametrize(
    "raw",
    [
        r'{"description": "meter \ud800", "max_hourly_kwh": 1}',
        r'{"description": "meter \udfff\ud800", "max_hourly_kwh": 1}',
        r'{"description": "x", "max_hourly_kwh": 1, "\ud800": 1}',
    ],
    ids=["lone-high", "reversed-pair", "in-a-key"],
)
async def test_lone_surrogates_are_400(client, admin, raw):
    resp = await client.post(DEVICES, data=raw, headers=with_json(admin))
    await problem(resp, 400)


async def test_an_escaped_surrogate_pair_is_fine(client, admin):
    resp = await client.post(
        DEVICES,
        data=r'{"description": "meter \ud83d\udd0c", "max_hourly_kwh": 1}',
        headers=with_json(admin),
    )
    assert (await ok(resp, 201))["description"] == "meter \U0001f50c"


# ---- fields --------------------------------------------------------------------------------


@sqlite_only
async def test_unknown_fields_are_422_on_every_body(client, admin, alice, make_device):
    """Every body an account may send rejects an unknown field the same way."""
    device = await make_device(alice)
    seen = 0
    for method, path, op in await operations(client):
        if "requestBody" not in op or not account_secured(op):
            continue
        body = {**valid_body(op, alice), "unexpected": 1}  # type: ignore[dict-item]
        url = fill_path(path, device_id=device["id"], user_id=alice.id)
        resp = await client.request(method, url, json=body, headers=admin.headers)
        problem_body = await problem(resp, 422)
        unexpected = [e for e in problem_body["errors"] if e["field"] == "unexpected"]
        assert unexpected, f"{method} {path}: {problem_body}"
        assert unexpected[0]["location"] == "body"
        seen += 1
    assert seen >= 7


@sqlite_only
async def test_wrong_types_are_422_naming_each_field(client, admin):
    resp = await client.post(
        USERS,
        json={"email": 12, "password": ["x" * 10], "name": {"n": 1}, "role": "root"},
        headers=admin.headers,
    )
    body = await problem(resp, 422)
    assert error_fields(body) == {"email", "password", "name", "role"}
    assert all(e["location"] == "body" and e["detail"] for e in body["errors"])

    resp = await client.post(
        DEVICES,
        json={"description": "x", "max_hourly_kwh": "lots", "owner_id": 1.5},
        headers=admin.headers,
    )
    assert error_fields(await problem(resp, 422)) == {"max_hourly_kwh", "owner_id"}

    resp = await client.patch(
        f"{USERS}/{admin.id}", json={"disabled": "perhaps"}, headers=admin.headers
    )
    assert error_fields(await problem(resp, 422)) == {"disabled"}


@sqlite_only
@pytest.mark.parametrize("raw", ["[]", "null", '"text"', "42", "true"])
async def test_a_body_that_is_not_an_object_is_422(client, admin, raw):
    resp = await client.post(DEVICES, data=raw, headers=with_json(admin))
    await problem(resp, 422)


@sqlite_only
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "", "max_hourly_kwh": 1}, "description"),
        ({"description": "   ", "max_hourly_kwh": 1}, "description"),
        ({"description": "d" * 201, "max_hourly_kwh": 1}, "description"),
        ({"description": "x", "address": "a" * 301, "max_hourly_kwh": 1}, "address"),
        ({"description": "x", "max_hourly_kwh": 0}, "max_hourly_kwh"),
        ({"description": "x", "max_hourly_kwh": -1}, "max_hourly_kwh"),
        ({"description": "x", "max_hourly_kwh": 10**30}, "max_hourly_kwh"),
        ({"description": "x", "max_hourly_kwh": 1, "owner_id": 0}, "owner_id"),
        ({"description": "x", "max_hourly_kwh": 1, "owner_id": 2**63}, "owner_id"),
    ],
)
async def test_out_of_range_device_fields_are_422(client, admin, body, field):
    resp = await client.post(DEVICES, json=body, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {field}


# ---- path and query ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id", ["0", "-1", "abc", "1.5", "99999999999999999999999", "9223372036854775808"]
)
async def test_ids_that_are_not_positive_integers_are_404(client, admin, alice, bad_id):
    seen = 0
    for method, path, op in await operations(client):
        if "{" not in path or not account_secured(op):
            continue
        url = fill_path(path, other=bad_id)
        resp = await client.request(
            method,
            url,
            json=valid_body(op, alice),
            params=valid_query(op),
            headers=admin.headers,
        )
        await problem(resp, 404)
        seen += 1
    assert seen >= 8


async def test_the_largest_id_is_simply_not_found(client, admin, alice):
    for method, path, op in await operations(client):
        if "{" not in path or not account_secured(op):
            continue
        url = fill_path(path, other=2**63 - 1)
        resp = await client.request(
            method,
            url,
            json=valid_body(op, alice),
            params=valid_query(op),
            headers=admin.headers,
        )
        await problem(resp, 404)


@sqlite_only
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"offset": str(2**62 + 1)}, "offset"),
    ],
)
@pytest.mark.parametrize("path", [USERS, DEVICES])
async def test_bad_paging_is_422(client, admin, path, params, field):
    body = await problem(await client.get(path, params=params, headers=admin.headers), 422)
    assert error_fields(body) == {field}
    assert body["errors"][0]["location"] == "query"


@sqlite_only
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"owner_id": "0"}, "owner_id"),
        ({"owner_id": "me"}, "owner_id"),
        ({"orphans": "perhaps"}, "orphans"),
    ],
)
async def test_bad_device_filters_are_422(client, admin, params, field):
    body = await problem(await client.get(DEVICES, params=params, headers=admin.headers), 422)
    assert error_fields(body) == {field}


@sqlite_only
async def test_a_too_long_search_is_422(client, admin):
    resp = await client.get(USERS, params={"q": "q" * 255}, headers=admin.headers)
    assert error_fields(await problem(resp, 422)) == {"q"}


@sqlite_only
async def test_unknown_query_parameters_are_ignored(client, admin):
    page = await ok(await client.get(USERS, params={"colour": "blue"}, headers=admin.headers))
    assert page["total"] == 1


# ---- every error is a problem document -----------------------------------------------------


@sqlite_only
async def test_unknown_address_and_wrong_method_are_problems(client, admin):
    await problem(await client.get("/api/v1/nothing-here", headers=admin.headers), 404)
    await problem(await client.get("/nothing-here"), 404)
    resp = await client.request("PUT", "/api/v1/me", headers=admin.headers)
    await problem(resp, 405)
    assert "GET" in resp.headers["Allow"]


# ---- nothing produces a 500 ----------------------------------------------------------------

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**400,
    1.5,
    "",
    " ",
    "x" * 5000,
    "\x00",
    "İ" * 240 + "@example.com",
    "a@b.c" + "\U0001f50c" * 60,
    "%_\\'\"; DROP TABLE users; --",
    [],
    {},
    ["a", 1],
    {"nested": {"deeper": [1, 2, 3]}},
]
HOSTILE_BODIES: list[Any] = [[], "text", 0, None, {}, {"": 1}]
HOSTILE_QUERY_VALUES = [
    "",
    "0",
    "-1",
    "1e3",
    " 5",
    "99999999999999999999999",
    str(2**62),
    str(2**63 - 1),
    "\x00",
    "%",
    "\\",
    "İİİ",
    "\U0001f50c",
    "TRUE",
    "2026-02-30",
    "9999-12-31T23:59:59Z",
    "0001-01-01",
    "x" * 300,
]


def _body_fields(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    """The property names the operation's body schema declares (none for a non-object)."""
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return list(schema.get("properties", {}))


async def test_no_body_produces_a_500(client, admin, alice, make_device):
    spec = await ok(await client.get("/api/v1/openapi.json"))
    device = await make_device(alice)
    for method, path, op in await operations(client):
        if "requestBody" not in op:
            continue
        url = fill_path(path, device_id=device["id"], user_id=alice.id, other=1)
        base = valid_body(op, alice) or {}
        bodies = list(HOSTILE_BODIES)
        for field in _body_fields(spec, op) or ["value"]:
            bodies += [{**base, field: value} for value in HOSTILE_VALUES]
        for body in bodies:
            resp = await client.request(method, url, json=body, headers=admin.headers)
            where = f"{method} {path} {str(body)[:200]}"
            assert resp.status < 500, f"{where}: {await resp.text()}"
            if resp.status >= 400:
                await problem_shape(resp)


async def test_no_query_produces_a_500(client, admin, alice, make_device):
    device = await make_device(alice)
    for method, path, op in await operations(client):
        names = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        if method != "GET" or not names:
            continue
        url = fill_path(path, device_id=device["id"], other=1)
        for actor in (admin, alice):
            for name in names:
                for value in HOSTILE_QUERY_VALUES:
                    params = {**valid_query(op), name: value}
                    resp = await client.get(url, params=params, headers=actor.headers)
                    where = f"{path} {name}={value!r}"
                    assert resp.status < 500, f"{where}: {await resp.text()}"
                    if resp.status >= 400:
                        await problem_shape(resp)


@sqlite_only
async def test_a_body_that_arrives_in_slow_chunks_is_read_whole(client, admin):
    """A body is read to its end before it is parsed, however it is split on the wire."""
    body = b'{"description": "slow", ' + b" " * 200_000 + b'"max_hourly_kwh": 1}'

    async def slowly() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 10_000):
            yield body[start : start + 10_000]
            await asyncio.sleep(0.005)  # a slow sender: the scenario, not a synchronisation

    resp = await client.post(DEVICES, data=slowly(), headers=with_json(admin))
    assert (await ok(resp, 201))["description"] == "slow"
