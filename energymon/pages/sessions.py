"""Log in, register, log out: forms that start and end the browser session."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from energymon import keys
from energymon.api import session
from energymon.api.schemas import LoginIn, RegisterIn
from energymon.errors import Conflict, DomainError, Invalid, TooManyRequests, Unauthorized
from energymon.pages.common import current_principal, home_of, render, safe_next

_LOGGER = logging.getLogger(__name__)
_FIELD_LABELS = {"email": "email", "password": "password", "name": "name"}


def _form_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "form"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_too_short":
            message = f"Use at least {err.get('ctx', {}).get('min_length', 1)} characters"
        elif err["type"] == "string_pattern_mismatch":
            message = f"Enter a valid {_FIELD_LABELS.get(field, field)}"
        errors.setdefault(field, message)
    return errors


def _form_page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A form with the CSRF token bound to this browser's session or visitor value (a new
    visitor gets one first: a forged cross-site login would otherwise log the victim into
    another account)."""
    token = session.csrf_token(request)
    visitor = None
    if token is None:
        visitor, token = session.new_visit(request)
    response = render(template, request, context | {"csrf": token}, status=status)
    if visitor is not None:
        session.set_visitor_cookie(response, request, visitor)
    if request.cookies.get(session.cookie_name(request, session.CSRF_COOKIE)) != token:
        session.set_csrf_cookie(response, request, token)
    return response


async def _form(request: web.Request) -> dict[str, str]:
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _csrf_ok(request: web.Request, form: dict[str, str]) -> bool:
    try:
        session.check_csrf(request, form.get(session.CSRF_FIELD))
    except DomainError:
        return False
    return True


_CSRF_PROBLEM = "Your session form expired or cookies are blocked. Please try again."


async def login_page(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    next_path = safe_next(request.query.get("next"))
    if principal is not None:
        raise web.HTTPSeeOther(next_path or home_of(principal))
    return _form_page(
        request,
        "login.html",
        {
            "next": next_path or "",
            "values": {},
            "errors": {},
            "logged_out": "logged_out" in request.query,
        },
    )


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    values = {"email": form.get("email", "")}
    context: dict[str, Any] = {"next": next_path or "", "values": values}
    if not _csrf_ok(request, form):
        return _form_page(request, "login.html", context | {"errors": {"form": _CSRF_PROBLEM}}, 403)
    try:
        body = LoginIn.model_validate(
            {"email": form.get("email", ""), "password": form.get("password", "")}
        )
        login = await request.app[keys.ACCOUNTS].login(
            email=body.email, password=body.password, address=session.client_address(request)
        )
    except ValidationError as exc:
        return _form_page(request, "login.html", context | {"errors": _form_errors(exc)}, 422)
    except TooManyRequests as exc:
        errors = {"form": f"Too many attempts. Try again in {exc.retry_after} seconds."}
        return _form_page(request, "login.html", context | {"errors": errors}, 429)
    except Unauthorized as exc:
        errors = {"form": exc.detail[:1].upper() + exc.detail[1:] + "."}
        return _form_page(request, "login.html", context | {"errors": errors}, 401)
    principal = await request.app[keys.ACCOUNTS].authenticate(login.token)
    response = web.HTTPSeeOther(next_path or home_of(principal))
    session.start_session(response, request, login.token, login.expires_in)
    raise response


async def register_page(request: web.Request) -> web.Response:
    principal = await current_principal(request)
    if principal is not None:
        raise web.HTTPSeeOther(home_of(principal))
    return _form_page(request, "register.html", {"values": {}, "errors": {}})


async def register_submit(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    values = {"email": form.get("email", ""), "name": form.get("name", "")}
    context: dict[str, Any] = {"values": values}
    if not _csrf_ok(request, form):
        return _form_page(request, "register.html", context | {"errors": {"form": _CSRF_PROBLEM}})
    accounts = request.app[keys.ACCOUNTS]
    try:
        body = RegisterIn.model_validate(
            {
                "email": form.get("email", "").strip(),
                "password": form.get("password", ""),
                "name": form.get("name", "").strip(),
            }
        )
        await accounts.register(
            email=body.email,
            password=body.password,
            name=body.name,
            address=session.client_address(request),
        )
        login = await accounts.login(
            email=body.email, password=body.password, address=session.client_address(request)
        )
    except ValidationError as exc:
        return _form_page(request, "register.html", context | {"errors": _form_errors(exc)}, 422)
    except Conflict:
        errors = {"email": "An account with this email exists already. Log in instead."}
        return _form_page(request, "register.html", context | {"errors": errors}, 409)
    except Invalid as exc:
        # A rule the service checks (a common password, the email as password): by its field.
        errors = {e.field: e.message[:1].upper() + e.message[1:] + "." for e in exc.errors}
        return _form_page(
            request, "register.html", context | {"errors": errors or {"form": exc.detail}}, 422
        )
    except DomainError as exc:
        return _form_page(
            request, "register.html", context | {"errors": {"form": exc.detail}}, exc.status
        )
    response = web.HTTPSeeOther("/app")
    session.start_session(response, request, login.token, login.expires_in)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    # Without a matching token a cross-site form could log people out: only our pages may.
    if not _csrf_ok(request, form):
        raise web.HTTPSeeOther("/login")
    principal = await current_principal(request)
    if principal is not None:
        # The token dies with its session, wherever it was copied (sockets, chat streams).
        await request.app[keys.ACCOUNTS].logout(principal)
    response = web.HTTPSeeOther("/login?logged_out=1")
    session.end_session(response, request)
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/register", register_page)
    app.router.add_post("/register", register_submit)
    app.router.add_post("/logout", logout)
