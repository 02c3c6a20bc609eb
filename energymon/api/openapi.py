"""The OpenAPI 3.1 document, generated from the declared operations and their models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from energymon.api.router import Operation, status_phrase
from energymon.api.schemas import MAX_ID, Problem

REF = "#/components/schemas/{model}"
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "user": [{"bearerAuth": []}],
    "admin": [{"bearerAuth": []}],
    "device": [{"ingestToken": []}],
}
ERROR_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer challenge"}},
    429: {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait before trying again",
        }
    },
}


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is either present with a value or absent; it is never null."""
    options = schema.get("anyOf")
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k not in {"anyOf", "default"}}
            return {**kept[0], **rest}
    if schema.get("default") is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = _strip_null(dict(prop))
        description = prop.pop("description", None)
        prop.pop("title", None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
        if description:
            param["description"] = description
        params.append({**param, "schema": prop})
    return params


def _path_parameters(op: Operation) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
        for name in op.path_params
    ]


def build_openapi(operations: list[Operation], *, version: str) -> dict[str, Any]:
    """The whole document; every schema in it is what the server validates or sends."""
    pairs: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for op in operations:
        if op.body is not None:
            pairs.append((op.body, "validation"))
        if op.response is not None:
            pairs.append((op.response, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(pairs)), ref_template=REF)
    problem = refs[(Problem, "serialization")]

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        responses: dict[str, Any] = {}
        ok: dict[str, Any] = {"description": status_phrase(op.status)}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
        responses[str(op.status)] = ok
        for code in op.error_statuses():
            if code == 503 and op.response is not None:
                schema = refs[(op.response, "serialization")]
                responses["503"] = {
                    "description": status_phrase(503),
                    "content": {"application/json": {"schema": schema}},
                }
                continue
            responses[str(code)] = {
                "description": status_phrase(code),
                "content": {"application/problem+json": {"schema": problem}},
            }
            if code in ERROR_HEADERS:
                responses[str(code)]["headers"] = ERROR_HEADERS[code]
        entry: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "responses": responses,
        }
        if op.description:
            entry["description"] = op.description
        params = _path_parameters(op) + (_query_parameters(op.query) if op.query else [])
        if params:
            entry["parameters"] = params
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        entry["security"] = SECURITY[op.auth]
        paths.setdefault(op.path, {})[op.method.lower()] = entry

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "energymon API",
            "version": version,
            "description": (
                "Accounts, devices and energy readings. Authenticate with "
                "`POST /api/v1/auth/login` and send the token as `Authorization: Bearer`. "
                "Every error is an RFC 9457 problem document."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "ingestToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A device's ingest token (see rotate_ingest_token)",
                },
            },
        },
    }
