"""Real time: private alerts and live charts over Socket.IO (`/socket.io`, namespace `/`).

`mount` builds the server inside create_app; `context` (a cleanup context, after the
services and the hub; create_app lists it) registers the handlers, bridges the hub to the
sockets, and on the way down disconnects every client and stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from energymon import keys
from energymon.auth.throttle import TokenBuckets
from energymon.config import Config
from energymon.lifecycle import CleanupContext
from energymon.realtime.bridge import Bridge
from energymon.realtime.chat import register_chat_handlers
from energymon.realtime.server import Realtime, build_server

_LOGGER = logging.getLogger(__name__)
# On shutdown, how long clients get to answer the close handshake before their
# connections are cut.
CLOSE_GRACE_S = 1.0


def mount(app: web.Application, config: Config) -> None:
    """Create the Socket.IO server and mount it at /socket.io; `context` runs it."""
    sio = build_server(config.realtime)
    app[keys.SIO] = sio
    # The routes sio.attach() would add, through a handler that knows the open connections:
    # a client that never answers the close handshake must not hold up a shutdown.
    open_connections: set[asyncio.BaseTransport] = set()
    all_closed = asyncio.Event()
    all_closed.set()

    async def handle(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            open_connections.add(transport)
            all_closed.clear()
        try:
            response = await sio.handle_request(request)
            # With aiohttp, engineio answers with a Response or an upgrade's WebSocketResponse.
            assert isinstance(response, web.StreamResponse)
            return response
        finally:
            open_connections.discard(transport)
            if not open_connections:
                all_closed.set()

    for method in ("GET", "POST", "OPTIONS"):
        app.router.add_route(method, "/socket.io/", handle)

    async def close_all(app: web.Application) -> None:
        await _disconnect_all(app)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_closed.wait(), CLOSE_GRACE_S)
        for transport in list(open_connections):
            transport.close()

    app.on_shutdown.append(close_all)


def _register_feature_handlers(app: web.Application, events: TokenBuckets) -> Callable[[], None]:
    """Handlers that other features add to the same namespace; returns the way to stop them."""
    return register_chat_handlers(app[keys.SIO], app[keys.CHAT], app[keys.ACCOUNTS], events=events)


def _event_buckets(config: Config) -> TokenBuckets:
    """Client events per account, shared by every handler of the namespace."""
    limits = config.limits
    return TokenBuckets(
        limits.socket_events_per_second, limits.socket_events_burst, what="socket events"
    )


def context(config: Config) -> CleanupContext:
    """The cleanup context that runs the Socket.IO server mounted by `mount`."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        sio = app[keys.SIO]
        bridge = Bridge(sio, app[keys.HUB], readings_per_second=config.realtime.readings_per_second)
        events = _event_buckets(config)
        Realtime(sio, app[keys.ACCOUNTS], app[keys.DEVICES], bridge, events=events).register()
        stop_features = _register_feature_handlers(app, events)
        app[keys.BRIDGE] = bridge
        bridge.start()
        try:
            yield
        finally:
            stop_features()
            await _disconnect_all(app)
            await bridge.stop()
            await sio.shutdown()

    return ctx


async def _disconnect_all(app: web.Application) -> None:
    """Close every connection, so the HTTP server does not wait for open websockets."""
    sio = app[keys.SIO]
    if sio.eio.sockets:
        await sio.eio.disconnect()
