"""The browser's chat over Socket.IO: the same ChatService as gRPC, events to and from rooms.

Client -> server events carry an ack: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
Server -> client events go to rooms `user:<conversation user>` and `admins`, in the order the
hub announced them; typing only to the other side, unread counts only to their own side.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import socketio

from energymon.auth.throttle import TokenBuckets
from energymon.errors import DomainError, FieldError, Invalid, Unauthorized
from energymon.events import ChatEvent, ChatMessagePosted, ChatRead, ChatTyping, ChatUnread
from energymon.models import ChatMessage, Conversation, Principal, Role
from energymon.services.accounts import AccountService
from energymon.services.chat import ChatService

_LOGGER = logging.getLogger(__name__)

ADMINS = "admins"
Ack = dict[str, Any]


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", [FieldError(field, message)])


def _fields(data: Any, allowed: set[str]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid("the event data must be a JSON object")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _invalid(unknown[0], "unknown field")
    return data


def _int(data: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise _invalid(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, "must be an integer")
    return value


def rfc3339_ms(ms: int) -> str:
    """Unix milliseconds as the browser's RFC 3339 UTC time with milliseconds."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def message_payload(message: ChatMessage) -> dict[str, Any]:
    """A message as the browser gets it (JSON)."""
    return {
        "id": message.id,
        "user_id": message.user_id,
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "sender_role": message.side.value,
        "text": message.text,
        "created_at": rfc3339_ms(message.created_ms),
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """A conversation as one side's browser gets it (JSON)."""
    return {
        "id": conversation.user_id,
        "user_id": conversation.user_id,
        "user_name": conversation.user_name,
        "user_email": conversation.user_email,
        "unread": conversation.unread,
        "latest": message_payload(conversation.latest) if conversation.latest else None,
        "user_read_id": conversation.user_read_id,
        "admin_read_id": conversation.admin_read_id,
    }


def routes(event: ChatEvent) -> tuple[str, dict[str, Any], list[str]]:
    """The Socket.IO event, its data and its rooms for one chat event of the hub."""
    cid = event.conversation_id
    match event:
        case ChatMessagePosted(message=message):
            data = {"conversation_id": cid, "message": message_payload(message)}
            return event.kind, data, [user_room(cid), ADMINS]
        case ChatRead():
            data = {
                "conversation_id": cid,
                "reader_id": event.reader_id,
                "reader_role": event.reader_role.value,
                "message_id": event.message_id,
            }
            return event.kind, data, [user_room(cid), ADMINS]
        case ChatTyping():
            data = {
                "conversation_id": cid,
                "sender_id": event.sender_id,
                "sender_name": event.sender_name,
                "typing": event.typing,
            }
            # The other side only.
            to = [ADMINS] if event.sender_role is Role.USER else [user_room(cid)]
            return event.kind, data, to
        case ChatUnread():
            data = {"conversation_id": cid, "unread": event.unread}
            return event.kind, data, [user_room(cid)] if event.side is Role.USER else [ADMINS]
    raise ValueError(event.kind)


class ChatBridge:
    """Handlers for the browser's chat events, and the hub -> rooms pump."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        chat: ChatService,
        accounts: AccountService,
        events: TokenBuckets,
    ) -> None:
        self._sio = sio
        self._chat = chat
        self._accounts = accounts
        self._events = events
        # One queue and one task: emits leave in the order the hub announced them.
        self._outbox: asyncio.Queue[ChatEvent] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._unsubscribe = chat.listen(self._on_event)

    def _on_event(self, event: ChatEvent) -> None:
        self._outbox.put_nowait(event)
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._emit_all())

    async def _emit_all(self) -> None:
        while True:
            event = await self._outbox.get()
            try:
                name, data, rooms = routes(event)
                # Socket.IO takes a list of rooms; its stubs only know one.
                await self._sio.emit(name, data, room=rooms)  # type: ignore[arg-type]
            except Exception:
                _LOGGER.exception("chat event %s not delivered to browsers", event.kind)

    def close(self) -> None:
        """Stop hearing the hub and drop what was not sent yet."""
        self._unsubscribe()
        if self._pump is not None:
            self._pump.cancel()

    # ---- client -> server ----------------------------------------------------------------

    async def _principal(self, sid: str) -> Principal:
        """Who is on this socket, re-checked against the account (disabled users refused)."""
        try:
            session = await self._sio.get_session(sid)
        except KeyError:
            session = None
        if not isinstance(session, dict) or not session.get("token"):
            raise Unauthorized("this connection is not logged in")
        # Every event costs its account a token, before any work (the check reads the database).
        self._events.take(session["user_id"])
        return await self._accounts.authenticate(session["token"])

    def handler(
        self, work: Callable[[Principal, Any], Awaitable[Ack]]
    ) -> Callable[[str, Any], Awaitable[Ack]]:
        """Wrap one event: authenticate, run, and map domain errors to the ack once."""

        async def handle(sid: str, data: Any = None) -> Ack:
            try:
                principal = await self._principal(sid)
                return {"ok": True, **await work(principal, data)}
            except DomainError as exc:
                return {"ok": False, "error": exc.detail}
            except Exception:
                # Every event gets an answer: a bug is logged once, the client learns it failed.
                _LOGGER.exception("chat event failed")
                return {"ok": False, "error": "internal error"}

        return handle

    async def history(self, principal: Principal, data: Any) -> Ack:
        fields = _fields(data, {"user_id", "before", "limit"})
        page = await self._chat.history(
            principal,
            _int(fields, "user_id"),
            before_id=_int(fields, "before"),
            limit=_int(fields, "limit"),
        )
        return {
            "messages": [message_payload(m) for m in page.messages],
            "conversation": conversation_payload(page.conversation),
            "next_before": page.next_before_id,
        }

    async def send(self, principal: Principal, data: Any) -> Ack:
        fields = _fields(data, {"user_id", "text"})
        if "text" not in fields:
            raise _invalid("text", "is required")
        message = await self._chat.post(principal, _int(fields, "user_id"), fields["text"])
        return {"message": message_payload(message)}

    async def typing(self, principal: Principal, data: Any) -> Ack:
        fields = _fields(data, {"user_id", "typing"})
        typing = fields.get("typing", True)
        if not isinstance(typing, bool):
            raise _invalid("typing", "must be true or false")
        await self._chat.typing(principal, _int(fields, "user_id"), typing)
        return {}

    async def read(self, principal: Principal, data: Any) -> Ack:
        fields = _fields(data, {"user_id", "message_id"})
        message_id = _int(fields, "message_id", required=True)
        await self._chat.read(principal, _int(fields, "user_id"), message_id)
        return {}

    async def conversations(self, principal: Principal, data: Any) -> Ack:
        fields = _fields(data, {"limit", "offset"})
        found, total = await self._chat.conversations(
            principal, limit=_int(fields, "limit"), offset=_int(fields, "offset") or 0
        )
        return {"conversations": [conversation_payload(c) for c in found], "total": total}


def register_chat_handlers(
    sio: socketio.AsyncServer,
    chat_service: ChatService,
    accounts: AccountService,
    namespace: str = "/",
    *,
    events: TokenBuckets,
) -> Callable[[], None]:
    """Serve the chat events on `sio` and push chat events to its rooms; returns the way to
    stop (call it on app cleanup)."""
    bridge = ChatBridge(sio, chat_service, accounts, events)
    for event, work in (
        ("chat_history", bridge.history),
        ("chat_send", bridge.send),
        ("chat_typing", bridge.typing),
        ("chat_read", bridge.read),
        ("chat_conversations", bridge.conversations),
    ):
        sio.on(event, bridge.handler(work), namespace=namespace)
    return bridge.close


__all__ = ["ADMINS", "register_chat_handlers", "routes", "user_room"]
