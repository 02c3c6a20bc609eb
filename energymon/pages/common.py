"""What every page shares: who is looking, where to send them, how a page is rendered."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from yarl import URL

from energymon import keys
from energymon.api import session
from energymon.errors import Unauthorized
from energymon.models import Principal

# Pages that show someone's data are never cached by the browser or a proxy.
NO_STORE = {"Cache-Control": "no-store"}


async def current_principal(request: web.Request) -> Principal | None:
    """The account behind the session cookie, or None (no cookie, expired, disabled...)."""
    token = session.session_cookie(request)
    if not token:
        return None
    try:
        return await request.app[keys.ACCOUNTS].authenticate(token)
    except Unauthorized:
        return None


def home_of(principal: Principal) -> str:
    """Where an account lands after logging in."""
    return "/admin" if principal.is_admin else "/app"


def safe_next(value: str | None) -> str | None:
    """A local path to return to after logging in; anything else (another site) is dropped."""
    if not value or len(value) > 2000 or not value.startswith("/"):
        return None
    # "//host" and "/\\host" are read by browsers as another site.
    if value[1:2] in ("/", "\\") or any(ord(c) < 0x20 or c == "\\" for c in value):
        return None
    return value


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    target = request.rel_url.path_qs
    return web.HTTPSeeOther(str(URL("/login").with_query(next=target)))


def live_features(app: web.Application) -> dict[str, bool]:
    """Whether this app pushes live events (Socket.IO) and offers chat over them: pages only
    connect when the app has its Socket.IO server (every app create_app builds does)."""
    live = keys.SIO in app
    return {"live": live, "chat": live}


def render(
    name: str,
    request: web.Request,
    context: dict[str, Any],
    *,
    status: int = 200,
    principal: Principal | None = None,
) -> web.Response:
    """Render a page with what the layout needs: the account, CSRF token and live features."""
    base = {
        "me": principal,
        "csrf": session.csrf_token(request) or "",
        "path": request.path,
        **live_features(request.app),
    }
    response = aiohttp_jinja2.render_template(name, request, base | context, status=status)
    response.headers.update(NO_STORE)
    return response
