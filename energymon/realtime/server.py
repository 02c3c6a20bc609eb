"""The Socket.IO server: who may connect, and which rooms a connection may join.

Rooms are decided here only: every connection joins `user:<id>`, admins also `admins`, and
`device:<id>` after `subscribe_device` for a device the user owns (admins: any). Domain errors
are mapped once: at connect into `ConnectionRefusedError`, in events into an error ack.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any

import jwt
import socketio
from socketio import exceptions as socket_errors

from energymon.auth.throttle import TokenBuckets
from energymon.config import RealtimeConfig
from energymon.errors import BadRequest, DomainError, Unauthorized
from energymon.models import Principal
from energymon.realtime.bridge import Bridge
from energymon.services.accounts import AccountService
from energymon.services.devices import DeviceService

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "/"
SESSION_COOKIE = "energymon_session"
# The name pages get over TLS (see api/session.py); only this server's host can set it.
SECURE_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
MAX_DEVICE_ID = 2**63 - 1
# Devices one connection may follow at once (a page shows a handful).
MAX_FOLLOWED = 200

Ack = dict[str, Any]


def own_origins(environ: dict[str, Any]) -> set[str]:
    """The origins of this server as the request names it (Host, or a proxy's forwarded host),
    the same ones engine.io accepts when no list is configured."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        return set()
    found = {f"{scheme}://{host}"}
    if "HTTP_X_FORWARDED_PROTO" in environ or "HTTP_X_FORWARDED_HOST" in environ:
        proto = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
        forwarded = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
        found.add(f"{proto}://{forwarded}")
    return found


def origin_check(allowed: tuple[str, ...]) -> Callable[[str | None, dict[str, Any]], bool]:
    """Accept this server's own pages and the configured other origins.

    engine.io adds the request's own origin only when no list is given, so a list of other
    sites alone would lock out the server's own pages.
    """
    listed = frozenset(allowed)

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        return origin in listed or origin in own_origins(environ)

    return check


def build_server(config: RealtimeConfig) -> socketio.AsyncServer:
    """The AsyncServer; handlers are registered when the services exist (at startup)."""
    return socketio.AsyncServer(
        async_mode="aiohttp",
        # engineio also takes a callable (origin, environ) -> bool; its stubs do not know it.
        cors_allowed_origins=origin_check(config.allowed_origins),  # type: ignore[arg-type]
        cors_credentials=True,
        # Small JSON events only; anything bigger is not a client of ours.
        max_http_buffer_size=64 * 1024,
        logger=False,
        engineio_logger=False,
    )


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def device_room(device_id: int) -> str:
    return f"device:{device_id}"


ADMINS_ROOM = "admins"


def token_from(environ: dict[str, Any], auth: Any) -> str:
    """The JWT of a handshake: `auth={"token": ...}`, else the session cookie."""
    if auth is not None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str):
            raise Unauthorized('the auth payload must be {"token": "<access token>"}')
        return token
    cookies = SimpleCookie()
    try:
        cookies.load(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        raise Unauthorized("unreadable cookies") from None
    morsel = cookies.get(SECURE_SESSION_COOKIE) or cookies.get(SESSION_COOKIE)
    if morsel is None or not morsel.value:
        raise Unauthorized("no access token: send auth {token} or log in first")
    return morsel.value


def _device_id(data: Any) -> int:
    value = data.get("device_id") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DEVICE_ID:
        raise BadRequest('expected {"device_id": <positive integer>}')
    return value


def _acked(
    handler: Callable[[str, Any], Awaitable[Ack]],
) -> Callable[[str, Any], Awaitable[Ack]]:
    """Map domain errors of an event handler into `{"ok": false, "error": ...}`, once."""

    async def wrapper(sid: str, *args: Any) -> Ack:
        try:
            return await handler(sid, args[0] if len(args) == 1 else None)
        except DomainError as exc:
            return {"ok": False, "error": exc.detail}
        except Exception:
            _LOGGER.exception("socket event failed")
            return {"ok": False, "error": "internal error"}

    wrapper.__name__ = handler.__name__
    return wrapper


class Realtime:
    """The namespace's handlers, with their dependencies passed in."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        accounts: AccountService,
        devices: DeviceService,
        bridge: Bridge,
        *,
        events: TokenBuckets,
    ) -> None:
        self._sio = sio
        self._accounts = accounts
        self._devices = devices
        self._bridge = bridge
        self._events = events
        self._expiry: dict[str, asyncio.TimerHandle] = {}

    def register(self) -> None:
        sio = self._sio
        sio.on("connect", self.connect, namespace=NAMESPACE)
        sio.on("disconnect", self.disconnect, namespace=NAMESPACE)
        sio.on("subscribe_device", _acked(self.subscribe_device), namespace=NAMESPACE)
        sio.on("unsubscribe_device", _acked(self.unsubscribe_device), namespace=NAMESPACE)

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Authenticate the handshake; refused connections learn why."""
        try:
            token = token_from(environ, auth)
            principal = await self._accounts.authenticate(token)
        except DomainError as exc:
            raise socket_errors.ConnectionRefusedError(exc.detail, {"status": exc.status}) from None
        except Exception:
            _LOGGER.exception("socket connect failed")
            raise socket_errors.ConnectionRefusedError("internal error", {"status": 500}) from None
        await self._sio.save_session(
            sid, {"user_id": principal.user_id, "role": principal.role.value, "token": token}
        )
        # Which login this connection belongs to: ending that session closes it.
        self._bridge.bind_session(sid, principal.session_id)
        await self._sio.enter_room(sid, user_room(principal.user_id))
        if principal.is_admin:
            await self._sio.enter_room(sid, ADMINS_ROOM)
        self._expire_with_token(sid, token)
        # Checked once more now that the bridge can close it: a session that ended between
        # the first check and here was announced before this connection could hear of it.
        try:
            await self._accounts.authenticate(token)
        except Unauthorized as exc:
            self._bridge.revoke_sid(sid, exc.detail)

    def _expire_with_token(self, sid: str, token: str) -> None:
        """End the connection when its token expires, as REST would refuse it then."""
        try:
            # Already verified by authenticate(); only the expiry is read here.
            exp = int(jwt.decode(token, options={"verify_signature": False})["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return
        delay = max(0.0, exp - time.time())
        self._expiry[sid] = asyncio.get_running_loop().call_later(
            delay, self._bridge.revoke_sid, sid, "your session expired: log in again"
        )

    async def disconnect(self, sid: str, _reason: Any = None) -> None:
        handle = self._expiry.pop(sid, None)
        if handle is not None:
            handle.cancel()
        self._bridge.forget(sid)

    async def _principal(self, sid: str) -> Principal:
        """The account behind a connection, checked again (disabled users are refused)."""
        try:
            session = await self._sio.get_session(sid)
        except KeyError:
            raise Unauthorized("this connection has ended") from None
        self._events.take(session["user_id"])
        return await self._accounts.authenticate(session["token"])

    async def subscribe_device(self, sid: str, data: Any) -> Ack:
        device_id = _device_id(data)
        principal = await self._principal(sid)
        await self._devices.get(principal, device_id)  # NotFound unless the user may see it
        if len(self._bridge.following(sid)) >= MAX_FOLLOWED and not self._bridge.follows(
            sid, device_id
        ):
            raise BadRequest(f"at most {MAX_FOLLOWED} devices can be followed at once")
        watcher = None if principal.is_admin else principal.user_id
        await self._bridge.follow(sid, device_id, watcher)
        try:
            # Raises when the connection ended during the checks above: its disconnect
            # handler has run already, so this is the last chance to stop following.
            await self._sio.enter_room(sid, device_room(device_id))
        except (KeyError, ValueError):
            self._bridge.unfollow(sid, device_id)
            raise Unauthorized("this connection has ended") from None
        # Looked up again after joining: an owner change committed in between is either seen
        # here or announced after, and its event takes this socket out of the room.
        try:
            await self._devices.get(principal, device_id)
        except DomainError:
            await self._leave(sid, device_id)
            raise
        return {"ok": True}

    async def unsubscribe_device(self, sid: str, data: Any) -> Ack:
        device_id = _device_id(data)
        await self._leave(sid, device_id)
        return {"ok": True}

    async def _leave(self, sid: str, device_id: int) -> None:
        self._bridge.unfollow(sid, device_id)
        await self._sio.leave_room(sid, device_room(device_id))
