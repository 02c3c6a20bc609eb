"""The app's pages; every one checks the account and its role on the server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from energymon.models import Principal
from energymon.pages.common import current_principal, home_of, login_redirect, render

PageView = Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(*, admin: bool = False) -> Callable[[PageView], Handler]:
    """Anonymous visitors go to the login page (and come back); users get 403 on admin pages."""

    def wrap(view: PageView) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            principal = await current_principal(request)
            if principal is None:
                raise login_redirect(request)
            if admin and not principal.is_admin:
                return render(
                    "forbidden.html",
                    request,
                    {"title": "Not allowed"},
                    status=403,
                    principal=principal,
                )
            return await view(request, principal)

        handler.__name__ = view.__name__
        return handler

    return wrap


async def index(request: web.Request) -> web.StreamResponse:
    principal = await current_principal(request)
    raise web.HTTPSeeOther(home_of(principal) if principal else "/login")


@page()
async def user_app(request: web.Request, me: Principal) -> web.StreamResponse:
    return render("app.html", request, {"title": "My devices"}, principal=me)


@page()
async def alerts(request: web.Request, me: Principal) -> web.StreamResponse:
    return render("alerts.html", request, {"title": "Alerts"}, principal=me)


@page(admin=True)
async def admin(request: web.Request, me: Principal) -> web.StreamResponse:
    return render("admin.html", request, {"title": "Admin"}, principal=me)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/app", user_app)
    app.router.add_get("/alerts", alerts)
    app.router.add_get("/admin", admin)
