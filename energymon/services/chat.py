"""Chat: each user has one conversation with the admins; every admin sees and answers all.

The rules live here: who may read and write which conversation, what a valid message is,
unread counts and read receipts. What happens is announced on the event hub as typed chat
events (energymon/events.py), so that every transport in every process (gRPC streams,
Socket.IO rooms) hears it the same way and renders it its own way. Typing is announced but
never stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from energymon.auth.throttle import TokenBuckets
from energymon.errors import FieldError, Forbidden, Invalid, NotFound, Unauthorized
from energymon.events import (
    CHAT_KINDS,
    ChatEvent,
    ChatMessagePosted,
    ChatRead,
    ChatTyping,
    ChatUnread,
    Event,
    EventHub,
)
from energymon.models import ChatMessage, Conversation, Principal, Role
from energymon.services.access import require_admin
from energymon.storage import Database
from energymon.storage import chat as chat_store
from energymon.storage import users as users_store

_LOGGER = logging.getLogger(__name__)

MAX_TEXT_BYTES = 4096
DEFAULT_PAGE = 50
MAX_PAGE = 200
# Ids and offsets are stored as signed 64-bit integers: anything larger names nothing.
MAX_ID = 2**63 - 1


def side_of(principal: Principal) -> Role:
    return Role.ADMIN if principal.is_admin else Role.USER


def other(side: Role) -> Role:
    return Role.USER if side is Role.ADMIN else Role.ADMIN


def validate_text(text: Any) -> str:
    """Invalid unless 1..4096 bytes of UTF-8 with something other than white space."""
    if not isinstance(text, str):
        raise _invalid("text", "must be a string")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise _invalid("text", "must be valid Unicode text") from None
    if not text.strip():
        raise _invalid("text", "must not be empty")
    if size > MAX_TEXT_BYTES:
        raise _invalid("text", f"must be at most {MAX_TEXT_BYTES} bytes of UTF-8 (got {size})")
    return text


def _invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", [FieldError(field, message)])


def _page_size(limit: int | None) -> int:
    if not limit:
        return DEFAULT_PAGE
    if limit < 0:
        raise _invalid("limit", "must not be negative")
    return min(limit, MAX_PAGE)


def _in_range(field: str, value: int, low: int) -> int:
    """`value` unless it falls outside [low, MAX_ID] (a database integer)."""
    if not low <= value <= MAX_ID:
        raise _invalid(field, f"must be between {low} and {MAX_ID}")
    return value


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Messages oldest first; `next_before_id` pages further back (None at the start)."""

    messages: list[ChatMessage]
    next_before_id: int | None
    conversation: Conversation


class ChatService:
    """The chat rules, over storage and the event hub; transports only translate."""

    def __init__(
        self,
        db: Database,
        hub: EventHub,
        *,
        messages_per_minute: int = 30,
        typing_per_minute: int = 120,
    ) -> None:
        self._db = db
        self._hub = hub
        # Per account, whichever transport the call comes through.
        self._messages = TokenBuckets(
            messages_per_minute / 60, messages_per_minute, what="chat messages"
        )
        self._typing = TokenBuckets(typing_per_minute / 60, typing_per_minute, what="typing events")
        # Per conversation: write and announce in one order, so every stream sees messages in
        # id order. [lock, holders] so the entry goes away when nobody uses it.
        self._locks: dict[int, list[Any]] = {}

    # ---- who may touch which conversation ------------------------------------------------

    def conversation_of(self, principal: Principal, conversation_id: int | None) -> int:
        """The conversation a call is about (the user's id). Users only ever get their own."""
        if not principal.is_admin:
            if conversation_id in (None, 0, principal.user_id):
                return principal.user_id
            _in_range("conversation_id", conversation_id, 1)
            raise Forbidden("a user can only use their own conversation")
        if not conversation_id:
            raise _invalid("conversation_id", "admins must name the conversation (a user id)")
        if conversation_id < 0:
            raise _invalid("conversation_id", "must be a positive user id")
        return _in_range("conversation_id", conversation_id, 1)

    async def _check_exists(self, conn: Any, conversation_id: int) -> None:
        user = await users_store.get(conn, conversation_id)
        if user is None or user.role is not Role.USER:
            raise NotFound(f"conversation {conversation_id} not found")

    async def open(self, principal: Principal, conversation_id: int | None) -> int | None:
        """Check a subscription: None means every conversation (admins only)."""
        if principal.is_admin and not conversation_id:
            return None
        cid = self.conversation_of(principal, conversation_id)
        if principal.is_admin:
            async with self._db.read() as conn:
                await self._check_exists(conn, cid)
        return cid

    @asynccontextmanager
    async def _serial(self, conversation_id: int) -> AsyncIterator[None]:
        entry = self._locks.setdefault(conversation_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if not entry[1]:
                del self._locks[conversation_id]

    def listen(self, callback: Callable[[ChatEvent], None]) -> Callable[[], None]:
        """Hear every chat event (of every process, once the hub is broker-backed); returns
        the way to stop. The callback must not block: it queues its own work."""

        def on_event(event: Event) -> None:
            if isinstance(event, ChatEvent):
                callback(event)

        # Only chat kinds: subscribing to everything would make ingest build reading events.
        return self._hub.subscribe(on_event, CHAT_KINDS.__contains__)

    # ---- the operations ------------------------------------------------------------------

    async def post(
        self, principal: Principal, conversation_id: int | None, text: Any
    ) -> ChatMessage:
        """Store a message from the caller and announce it, with the other side's unread."""
        cid = self.conversation_of(principal, conversation_id)
        text = validate_text(text)
        self._messages.take(principal.user_id)
        side = side_of(principal)
        async with self._serial(cid):
            async with self._db.write() as conn:
                if principal.is_admin:
                    await self._check_exists(conn, cid)
                message = await chat_store.insert(
                    conn,
                    user_id=cid,
                    sender_id=principal.user_id,
                    sender_name=principal.name,
                    side=side,
                    text=text,
                    created_ms=int(time.time() * 1000),
                )
                unread = await chat_store.unread(conn, cid, other(side))
            self._hub.publish(ChatMessagePosted.of(message))
            self._hub.publish(ChatUnread(cid, other(side), unread))
        return message

    async def typing(self, principal: Principal, conversation_id: int | None, typing: bool) -> None:
        """Tell the other side the caller started or stopped typing (not stored)."""
        cid = self.conversation_of(principal, conversation_id)
        self._typing.take(principal.user_id)
        if principal.is_admin:
            async with self._db.read() as conn:
                await self._check_exists(conn, cid)
        self._hub.publish(
            ChatTyping(cid, principal.user_id, principal.name, side_of(principal), bool(typing))
        )

    async def read(
        self, principal: Principal, conversation_id: int | None, message_id: Any
    ) -> bool:
        """Mark the caller's side as having read up to `message_id`; announce a receipt.

        False (and nothing announced) when the side had already read that far.
        """
        cid = self.conversation_of(principal, conversation_id)
        if isinstance(message_id, bool) or not isinstance(message_id, int) or message_id <= 0:
            raise _invalid("message_id", "must be a positive message id")
        _in_range("message_id", message_id, 1)
        side = side_of(principal)
        async with self._serial(cid):
            async with self._db.write() as conn:
                message = await chat_store.get(conn, message_id)
                if message is None or message.user_id != cid:
                    raise NotFound(f"message {message_id} not found in conversation {cid}")
                now = int(time.time() * 1000)
                moved = await chat_store.mark_read(
                    conn, cid, side, message_id, principal.user_id, now
                )
                unread = await chat_store.unread(conn, cid, side) if moved else 0
            if moved:
                self._hub.publish(ChatRead(cid, principal.user_id, side, message_id))
                self._hub.publish(ChatUnread(cid, side, unread))
        return moved

    async def history(
        self,
        principal: Principal,
        conversation_id: int | None,
        *,
        before_id: int | None = None,
        limit: int | None = None,
    ) -> HistoryPage:
        """A page of the conversation, oldest first, ending before `before_id`."""
        cid = self.conversation_of(principal, conversation_id)
        size = _page_size(limit)
        if before_id is not None:
            _in_range("before_id", before_id, 0)
        async with self._db.read() as conn:
            conversation = await chat_store.conversation(conn, cid, side_of(principal))
            if conversation is None:
                if principal.is_admin:
                    raise NotFound(f"conversation {cid} not found")
                raise Unauthorized("this account no longer exists")
            messages, more = await chat_store.page(conn, cid, before_id=before_id, limit=size)
        messages.reverse()
        return HistoryPage(
            messages=messages,
            next_before_id=messages[0].id if more and messages else None,
            conversation=conversation,
        )

    async def conversations(
        self, principal: Principal, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Conversation], int]:
        """Admins: every conversation with messages, newest activity first."""
        require_admin(principal)
        _in_range("offset", offset, 0)
        async with self._db.read() as conn:
            return await chat_store.conversations(
                conn, Role.ADMIN, limit=_page_size(limit), offset=offset
            )
