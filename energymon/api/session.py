"""Browser sessions: the session and CSRF cookies shared by the pages and the REST API."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from energymon import keys
from energymon.errors import Forbidden

SESSION_COOKIE = "energymon_session"
CSRF_COOKIE = "energymon_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_secure(request: web.Request) -> bool:
    """Whether the browser reached us over TLS (through a trusted proxy, if configured)."""
    if request.secure:
        return True
    if request.app[keys.CONFIG].server.trust_proxy:
        proto = request.headers.get("X-Forwarded-Proto", "")
        return proto.split(",", 1)[0].strip().lower() == "https"
    return False


def client_address(request: web.Request) -> str:
    """The caller's address: behind a trusted proxy, the right-most `X-Forwarded-For` entry
    (the one the proxy added; anything left of it the client could have written)."""
    if request.app[keys.CONFIG].server.trust_proxy:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return request.remote or "unknown"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(request: web.Request) -> str | None:
    """The CSRF token the browser holds, if any."""
    return request.cookies.get(CSRF_COOKIE) or None


def check_csrf(request: web.Request, sent: str | None) -> None:
    """Refuse a state-changing call whose token does not match the browser's CSRF cookie."""
    expected = csrf_token(request)
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden(
            f"a call authenticated by the session cookie needs the `{CSRF_HEADER}` header "
            f"equal to the `{CSRF_COOKIE}` cookie"
        )


def set_csrf_cookie(
    response: web.StreamResponse, request: web.Request, token: str, max_age: int | None = None
) -> None:
    """The double-submit token: readable by our scripts (not HttpOnly), same site only."""
    response.set_cookie(
        CSRF_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=is_secure(request),
        httponly=False,
        samesite="Lax",
    )


def start_session(
    response: web.StreamResponse, request: web.Request, token: str, max_age: int
) -> None:
    """Put the access token in an HttpOnly cookie, with a fresh CSRF token beside it."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        secure=is_secure(request),
        httponly=True,
        samesite="Lax",
    )
    set_csrf_cookie(response, request, new_csrf_token(), max_age)


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
