"""Browser libraries from web/node_modules (installed by `npm ci`), served file by file.

Only the listed distribution files are reachable: nothing else in node_modules is exposed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

# URL name -> file under node_modules.
FILES = {
    "socket.io.esm.min.js": "socket.io-client/dist/socket.io.esm.min.js",
    "chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
}
_CACHE = "public, max-age=86400"


def add_routes(app: web.Application, node_modules: Path) -> None:
    async def vendor(request: web.Request) -> web.StreamResponse:
        relative = FILES.get(request.match_info["name"])
        if relative is None:
            raise web.HTTPNotFound()
        path = node_modules / relative
        if not path.is_file():
            _LOGGER.error("%s is missing: run `npm ci` in web/ (scripts/serve does)", path)
            raise web.HTTPNotFound()
        return web.FileResponse(
            path, headers={"Content-Type": "text/javascript", "Cache-Control": _CACHE}
        )

    app.router.add_get("/vendor/{name}", vendor)
