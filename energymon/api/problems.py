"""The one place where errors become HTTP responses: RFC 9457 problem documents."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from energymon.api.router import status_phrase
from energymon.api.schemas import Problem, ProblemField
from energymon.errors import DomainError, Invalid, TooManyRequests, Unauthorized

_LOGGER = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(
    status: int,
    detail: str,
    *,
    errors: list[ProblemField] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = Problem(title=status_phrase(status), status=status, detail=detail, errors=errors)
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def _domain(exc: DomainError) -> web.Response:
    headers: dict[str, str] = {}
    errors = None
    if isinstance(exc, Invalid) and exc.errors:
        errors = [
            ProblemField(field=e.field, location=e.location, detail=e.message) for e in exc.errors
        ]
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="energymon"'
    return problem_response(exc.status, exc.detail, errors=errors, headers=headers)


_HTTP_DETAILS = {
    404: "there is nothing at this address",
    405: "this address does not accept that method",
    413: "the request body is too large",
}
# Headers worth keeping when an aiohttp HTTP exception becomes a problem document.
_KEEP_HEADERS = ("Allow", "Location", "Retry-After")


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn domain errors and HTTP errors into problem documents; a bug into a logged 500."""
    try:
        return await handler(request)
    except DomainError as exc:
        return _domain(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: exc.headers[k] for k in _KEEP_HEADERS if k in exc.headers}
        detail = _HTTP_DETAILS.get(exc.status, exc.reason)
        return problem_response(exc.status, detail, headers=headers)
    except Exception:
        _LOGGER.exception("unhandled error on %s %s", request.method, request.path)
        return problem_response(500, "an internal error occurred; it has been logged")
