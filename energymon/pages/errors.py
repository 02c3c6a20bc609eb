"""Errors as pages: a browser that opens a missing page gets HTML, not a problem document."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from energymon.pages.common import current_principal, render

# Paths answered by the API and file routes keep their own error format.
_NOT_PAGES = ("/api/", "/static/", "/vendor/", "/socket.io", "/healthz", "/readyz")


def _wants_page(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and not request.path.startswith(_NOT_PAGES)
        and "text/html" in request.headers.get("Accept", "")
    )


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render 404 and 405 of page paths as a page of the app."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in (404, 405) or not _wants_page(request):
            raise
        me = await current_principal(request)
        context = {"title": "Not found"}
        return render("not_found.html", request, context, status=exc.status, principal=me)
