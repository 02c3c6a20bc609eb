"""Assertions and request bodies shared by the API tests."""

from __future__ import annotations

import itertools
import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.conftest import PASSWORD, Actor

PROBLEM_JSON = "application/problem+json"
NEW_PASSWORD = "a brand new passphrase"
_unique = itertools.count(1)


def bearer(actor: Actor | None) -> dict[str, str]:
    """Authorization headers for `actor`; none for an anonymous caller."""
    return actor.headers if actor is not None else {}


async def ok(resp: ClientResponse, status: int = 200) -> Any:
    """The body of a successful response (JSON decoded, CSV as text) after checking its status
    and media type."""
    text = await resp.text()
    assert resp.status == status, f"{resp.method} {resp.url}: {resp.status} {text}"
    if status == 204:
        assert text == ""
        return None
    if resp.content_type == "text/csv":
        return text
    assert resp.content_type == "application/json", resp.content_type
    return await resp.json()


async def problem(resp: ClientResponse, status: int) -> dict[str, Any]:
    """The RFC 9457 problem body of an error response, after checking its shape."""
    text = await resp.text()
    assert resp.status == status, f"{resp.method} {resp.url}: {resp.status} {text}"
    return await problem_shape(resp)


async def problem_shape(resp: ClientResponse) -> dict[str, Any]:
    """Check that an error response of any status is a problem document; return its body."""
    text = await resp.text()
    assert resp.content_type == PROBLEM_JSON, f"{resp.status} {resp.content_type}: {text}"
    body = await resp.json(content_type=PROBLEM_JSON)
    assert isinstance(body.get("type"), str) and body["type"], body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("status") == resp.status, body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    """The names of the inputs a 422 problem complains about."""
    return {e["field"] for e in body.get("errors", [])}


def unique_email(prefix: str = "new") -> str:
    return f"{prefix}{next(_unique)}@example.com"


def valid_body(op: dict[str, Any], account: Actor) -> dict[str, Any] | None:
    """A request body the operation accepts, or None when it takes none; `account` is an
    existing user to log in as or assign to. An operation not known here gets `{}`."""
    if "requestBody" not in op:
        return None
    bodies = {
        "register": lambda: {
            "email": unique_email("reg"),
            "password": NEW_PASSWORD,
            "name": "Registered",
        },
        "login": lambda: {"email": account.user.email, "password": PASSWORD},
        "create_user": lambda: {
            "email": unique_email("made"),
            "password": NEW_PASSWORD,
            "name": "Made",
        },
        "update_user": lambda: {"name": "Renamed"},
        "change_password": lambda: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        "create_device": lambda: {"description": "Created meter", "max_hourly_kwh": 2.5},
        "update_device": lambda: {"address": "1 Changed Road"},
        "assign_device": lambda: {"user_id": account.id},
    }
    return bodies.get(op["operationId"], dict)()


def valid_query(op: dict[str, Any]) -> dict[str, str]:
    """Values for the operation's required query parameters, from their declared schema:
    a one-day range for `from`/`to`."""
    values = {
        "date": {"from": "2026-01-01", "to": "2026-01-02"},
        "date-time": {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
    }
    query = {}
    for param in op.get("parameters", []):
        if param["in"] != "query" or not param["required"]:
            continue
        schema = param["schema"]
        if schema.get("format") in values:
            by_name = values[schema["format"]]
            query[param["name"]] = by_name.get(param["name"], by_name["from"])
        elif schema.get("type") == "integer":
            query[param["name"]] = str(schema.get("minimum", 1))
        elif schema.get("type") == "boolean":
            query[param["name"]] = "false"
        else:
            raise AssertionError(f"no value for the required query parameter {param['name']}")
    return query


def account_secured(op: dict[str, Any]) -> bool:
    """Whether the operation is public or takes an account's token (not a device's)."""
    return all(set(scheme) <= {"bearerAuth"} for scheme in op.get("security", []))


async def operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (METHOD, path template, operation) the served OpenAPI document declares."""
    spec = await ok(await client.get("/api/v1/openapi.json"))
    found = [
        (method.upper(), path, op)
        for path, methods in spec["paths"].items()
        for method, op in methods.items()
    ]
    assert found, "the OpenAPI document declares no operations"
    return found


def fill_path(path: str, *, other: int | str | None = None, **ids: int | str) -> str:
    """Substitute `{user_id}`-style parameters. Any other parameter gets `other`, or fails
    loudly when that is None: a test that meets a parameter it does not know must say so."""
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    if other is not None:
        path = re.sub(r"\{\w+\}", str(other), path)
    assert "{" not in path, f"no value for a path parameter in {path}"
    return path
