"""Running the app: named cleanup contexts, and a serve loop that always closes what it opened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable

from aiohttp import web

_LOGGER = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


class CannotListen(OSError):
    """A port that cannot be bound (taken, or privileged): one line naming it."""


def cannot_listen(what: str, host: str, port: int, exc: OSError) -> CannotListen:
    """The error for a failed bind, without the resolver's or the loop's wording around it."""
    if isinstance(exc, socket.gaierror) or not exc.errno:
        reason = exc.strerror or str(exc)  # the resolver's codes are not errno values
    else:
        reason = os.strerror(exc.errno)
    return CannotListen(f"cannot listen for {what} on {host}:{port}: {reason.lower()}")


def named(name: str, ctx: CleanupContext) -> CleanupContext:
    """`ctx`, logging when it has closed: the log shows that a stop closed every resource."""

    async def wrapped(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.asynccontextmanager(ctx)(app):
            _LOGGER.debug("started %s", name)
            yield
        _LOGGER.info("stopped %s", name)

    return wrapped


async def serve(
    app: web.Application, host: str, port: int, on_ready: Callable[[], None] | None = None
) -> None:
    """Serve `app` until SIGINT or SIGTERM.

    aiohttp's `run_app` starts the cleanup contexts outside its try/finally, so a context that
    fails to start (a taken gRPC port) left the ones before it open; here cleanup always runs.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("serve() runs as an asyncio task")
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        # Cancelled too, so that a start-up waiting on an unreachable service stops as well;
        # the event still stops a start-up that swallowed the cancellation once it is done.
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop)
    runner = web.AppRunner(app)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise cannot_listen("HTTP", host, port, exc) from None
        _LOGGER.info("serving on http://%s:%d", host, port)
        if on_ready is not None:
            on_ready()
        await stopping.wait()
    except asyncio.CancelledError:
        if not stopping.is_set():
            raise
    finally:
        # A second signal now gets the default behaviour: it stops a stuck shutdown for good.
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        if stopping.is_set():
            _LOGGER.info("stopping")
            # The stop was asked for, not imposed: clean up in a task no longer being cancelled.
            while task.uncancel():
                pass
        await runner.cleanup()
