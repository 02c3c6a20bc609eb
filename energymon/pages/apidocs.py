"""The OpenAPI document and a readable page generated from it."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from energymon import keys


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[keys.OPENAPI])


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ops.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "auth": "admin"
                    if "403" in op["responses"]
                    else ("token" if op.get("security") else "none"),
                    "parameters": op.get("parameters", []),
                    "body": body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1],
                    "responses": sorted(op["responses"]),
                }
            )
    return ops


@aiohttp_jinja2.template("api_docs.html")
async def api_docs(request: web.Request) -> dict[str, Any]:
    spec = request.app[keys.OPENAPI]
    return {
        "info": spec["info"],
        "operations": _operations(spec),
        "schemas": spec["components"]["schemas"],
    }


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/api/docs", api_docs)
