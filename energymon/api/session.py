"""Browser sessions: the session and CSRF cookies shared by the pages and the REST API.

The CSRF token is not a random value the browser keeps but an HMAC (with the server's secret)
of the session id, or, before logging in, of a random visitor value in an HttpOnly cookie: a
token planted next to a cookie is worthless, as nobody but the server can compute the pair.
Over TLS the cookies carry the `__Host-` prefix, so no other host (a sibling subdomain, a
plain-HTTP page) can set them.
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from energymon import keys
from energymon.errors import Forbidden

SESSION_COOKIE = "energymon_session"
CSRF_COOKIE = "energymon_csrf"
# Before logging in: the random value the login and register forms' CSRF token is bound to.
VISITOR_COOKIE = "energymon_visitor"
SECURE_PREFIX = "__Host-"
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


def cookie_name(request: web.Request, name: str) -> str:
    """A cookie's name on this connection: `__Host-` prefixed over TLS."""
    return SECURE_PREFIX + name if is_secure(request) else name


def session_cookie(request: web.Request) -> str | None:
    """The access token of the browser's session cookie, if any."""
    return request.cookies.get(cookie_name(request, SESSION_COOKIE)) or None


def client_address(request: web.Request) -> str:
    """The caller's address: behind a trusted proxy, the right-most `X-Forwarded-For` entry
    (the one the proxy added; anything left of it the client could have written)."""
    if request.app[keys.CONFIG].server.trust_proxy:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
        if hops:
            return hops[-1][:64]
    return request.remote or "unknown"


def csrf_token(request: web.Request) -> str | None:
    """The CSRF token this browser must send: bound to its session, else to its visitor
    value; None when it has neither."""
    visitor = request.cookies.get(cookie_name(request, VISITOR_COOKIE)) or None
    return request.app[keys.ACCOUNTS].csrf_token(session_cookie(request), visitor)


def check_csrf(request: web.Request, sent: str | None) -> None:
    """Refuse a state-changing call whose token is not the one bound to its session."""
    expected = csrf_token(request)
    if not expected or not sent or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise Forbidden(
            f"a call authenticated by the session cookie needs the `{CSRF_HEADER}` header "
            f"equal to the `{CSRF_COOKIE}` cookie"
        )


def _set(
    response: web.StreamResponse,
    request: web.Request,
    name: str,
    value: str,
    *,
    max_age: int | None,
    httponly: bool,
) -> None:
    response.set_cookie(
        cookie_name(request, name),
        value,
        max_age=max_age,
        path="/",
        secure=is_secure(request),
        httponly=httponly,
        samesite="Lax",
    )


def new_visit(request: web.Request) -> tuple[str, str]:
    """A random value for a visitor without a session to bind form tokens to, and the CSRF
    token bound to it."""
    visitor = secrets.token_urlsafe(32)
    token = request.app[keys.ACCOUNTS].csrf_token(None, visitor)
    assert token is not None
    return visitor, token


def set_visitor_cookie(response: web.StreamResponse, request: web.Request, visitor: str) -> None:
    _set(response, request, VISITOR_COOKIE, visitor, max_age=None, httponly=True)


def set_csrf_cookie(
    response: web.StreamResponse, request: web.Request, token: str, max_age: int | None = None
) -> None:
    """The token, for our scripts to send as a header (not HttpOnly), same site only."""
    _set(response, request, CSRF_COOKIE, token, max_age=max_age, httponly=False)


def start_session(
    response: web.StreamResponse, request: web.Request, token: str, max_age: int
) -> None:
    """Put the access token in an HttpOnly cookie, with its CSRF token beside it."""
    _set(response, request, SESSION_COOKIE, token, max_age=max_age, httponly=True)
    csrf = request.app[keys.ACCOUNTS].csrf_token(token, None)
    assert csrf is not None
    set_csrf_cookie(response, request, csrf, max_age)


def end_session(response: web.StreamResponse, request: web.Request) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE, VISITOR_COOKIE):
        response.del_cookie(cookie_name(request, name), path="/")
