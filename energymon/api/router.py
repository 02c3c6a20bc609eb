"""Declared API operations: one declaration drives routing, validation, auth and the OpenAPI doc."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Generic, Literal

from aiohttp import web
from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar

from energymon import keys
from energymon.api import session
from energymon.api.jsonbody import read_json
from energymon.api.schemas import MAX_ID, Out
from energymon.errors import FieldError, Forbidden, Invalid, Location, NotFound, Unauthorized
from energymon.models import Principal

# public: anyone; user/admin: an account's bearer token; device: a device's ingest token.
Auth = Literal["public", "user", "admin", "device"]
_PATH_PARAM = re.compile(r"\{(\w+)\}")
# The validated query and body of a call; None for an operation that declares none.
QueryT = TypeVar("QueryT", bound=BaseModel | None, default=None)
BodyT = TypeVar("BodyT", bound=BaseModel | None, default=None)


@dataclass(frozen=True)
class Reply:
    """A handler's answer when it is not a plain 200 with a body."""

    status: int = 200
    body: Out | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A non-JSON answer (the operation's `media_type`, e.g. text/csv).
    text: str | None = None
    # A non-JSON answer sent as it is produced (chunked), never held whole in memory.
    chunks: AsyncIterator[str] | None = None


@dataclass(frozen=True)
class Call(Generic[QueryT, BodyT]):
    """Everything a handler needs, already validated.

    `Call[Q, B]` types the query and body the operation declares (`query=Q`, `body=B`):
    `Call` has neither, `Call[Q]` a query only, `Call[None, B]` a body only.
    """

    request: web.Request
    principal: Principal | None
    path: dict[str, int]
    query: QueryT
    body: BodyT
    device_id: int | None = None

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def me(self) -> Principal:
        assert self.principal is not None
        return self.principal


Handler = Callable[[Call[Any, Any]], Awaitable[Out | Reply]]


@dataclass(frozen=True)
class Operation:
    """One method on one path."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: Auth
    status: int
    response: type[Out] | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    errors: tuple[int, ...]
    media_type: str = "application/json"
    # The handler reads and parses the body itself; `body` only documents it.
    raw_body: bool = False

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__

    @property
    def description(self) -> str:
        return (self.handler.__doc__ or "").strip()

    def error_statuses(self) -> list[int]:
        codes = set(self.errors)
        if self.body is not None:
            codes |= {400, 413, 415, 422}
        if self.query is not None:
            codes.add(422)
        if self.auth != "public":
            codes.add(401)
        if self.auth == "admin":
            codes.add(403)
        if self.path_params:
            codes.add(404)
        return sorted(codes)


class ApiRouter:
    """Collects operations with a decorator, then mounts them on an application."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        auth: Auth,
        response: type[Out] | None = None,
        status: int = 200,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        errors: tuple[int, ...] = (),
        media_type: str = "application/json",
        raw_body: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    auth,
                    status,
                    response,
                    body,
                    query,
                    errors,
                    media_type,
                    raw_body,
                )
            )
            return handler

        return register

    def mount(self, app: web.Application) -> None:
        for op in self.operations:
            # ASCII digits only: `\d` would also match other scripts' digits ("٣" is 3).
            aiohttp_path = _PATH_PARAM.sub(r"{\1:[0-9]+}", op.path)
            app.router.add_route(op.method, aiohttp_path, _endpoint(op), name=op.operation_id)


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send an access token as `Authorization: Bearer <token>`")
    return token.strip()


def account_token(request: web.Request) -> str:
    """The caller's access token: the bearer header, else the browser's session cookie.

    A cookie is sent by the browser whoever made the page, so a state-changing call that
    relies on it must also prove it comes from our own pages (the CSRF double submit).
    """
    token = session.session_cookie(request)
    if "Authorization" in request.headers or token is None:
        return bearer_token(request)
    if request.method not in session.SAFE_METHODS:
        session.check_csrf(request, request.headers.get(session.CSRF_HEADER))
    return token


def _path_ids(op: Operation, request: web.Request) -> dict[str, int]:
    ids = {}
    for name in op.path_params:
        text = request.match_info[name]
        # Length first: int() refuses more than 4,300 digits, and no id has more than 19.
        digits = text.lstrip("0")
        if len(digits) > len(str(MAX_ID)) or not 1 <= int(digits or "0") <= MAX_ID:
            raise NotFound(f"no {name.removesuffix('_id')} with id {text[:40]}")
        ids[name] = int(digits)
    return ids


def _invalid(exc: ValidationError, location: Location) -> Invalid:
    errors = [
        FieldError(".".join(str(p) for p in err["loc"]) or location, err["msg"], location)
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return Invalid(f"invalid {location}: {detail}", errors)


def _endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        principal = device_id = None
        if op.auth == "device":
            device_id = await request.app[keys.INGEST_TOKENS].device_for(bearer_token(request))
        elif op.auth != "public":
            principal = await request.app[keys.ACCOUNTS].authenticate(account_token(request))
            if op.auth == "admin" and not principal.is_admin:
                raise Forbidden("this needs the admin role")
        path = _path_ids(op, request)
        query: BaseModel | None = None
        body: BaseModel | None = None
        if op.query is not None:
            try:
                query = op.query.model_validate(dict(request.query))
            except ValidationError as exc:
                raise _invalid(exc, "query") from None
        if op.body is not None and not op.raw_body:
            max_bytes = request.app[keys.CONFIG].server.max_body_bytes
            raw = await read_json(request, max_bytes)
            try:
                # Validated as JSON and strictly, as the document's schemas read: "5" is not
                # an integer and 1 is not true (pydantic's lax mode would take both).
                body = op.body.model_validate_json(json.dumps(raw), strict=True)
            except ValidationError as exc:
                raise _invalid(exc, "body") from None
        result = await op.handler(Call(request, principal, path, query, body, device_id))
        reply = result if isinstance(result, Reply) else Reply(op.status, result)
        if reply.chunks is not None:
            return await _stream(request, reply, reply.chunks, op.media_type)
        if reply.text is not None:
            return web.Response(
                status=reply.status,
                text=reply.text,
                headers=reply.headers,
                content_type=op.media_type,
            )
        if reply.body is None:
            return web.Response(status=reply.status, headers=reply.headers)
        return web.json_response(
            reply.body.model_dump(mode="json"),
            status=reply.status,
            headers=reply.headers,
        )

    endpoint.__name__ = op.operation_id
    return endpoint


async def _stream(
    request: web.Request, reply: Reply, chunks: AsyncIterator[str], media_type: str
) -> web.StreamResponse:
    """Send each chunk as it comes; the client's pace holds back the next one (drain)."""
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    response.content_type = media_type
    response.charset = "utf-8"
    response.enable_chunked_encoding()
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk.encode())
    await response.write_eof()
    return response


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
