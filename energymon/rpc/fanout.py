"""From the event hub to open update streams: each stream hears its conversations, in order.

The hub delivers every chat event of every process here (in process, or through the broker
when scaled out); one subscription serves all streams of this process, indexed by
conversation so a message costs only the streams that want it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from energymon.errors import Forbidden, Unauthorized
from energymon.events import (
    CHAT_KINDS,
    USER_KINDS,
    AccountRevoked,
    ChatEvent,
    ChatTyping,
    ChatUnread,
    Event,
    EventHub,
    SessionsEnded,
    UserDeleted,
    UserDemoted,
    UserDisabled,
)
from energymon.models import Principal, Role

_LOGGER = logging.getLogger(__name__)

# Updates a stream may have waiting before it counts as stuck and is ended.
MAX_PENDING = 10_000
# Events that end streams at once: the account or the session they were opened with is gone.
_ENDING: dict[type[AccountRevoked], Exception] = {
    UserDisabled: Unauthorized("this account is disabled"),
    UserDeleted: Unauthorized("this account no longer exists"),
    UserDemoted: Forbidden("your role changed: open the stream again"),
}


class StreamOverflow(Exception):
    """The client reads its updates too slowly; the stream is ended."""


class StreamClosed(Exception):
    """The server is shutting down."""


class Listener:
    """One open stream: a side, the conversation(s) it follows, and its pending updates."""

    def __init__(
        self, side: Role, conversation_id: int | None, principal: Principal | None = None
    ) -> None:
        self.side = side
        self.conversation_id = conversation_id  # None: every conversation (admins)
        self.principal = principal  # who opened it, with which session
        self._pending: deque[ChatEvent] = deque()
        self._ready = asyncio.Event()
        # Why the stream must end (overflow, shutdown, the account was disabled), once known.
        self._problem: Exception | None = None

    def wants(self, event: ChatEvent) -> bool:
        if isinstance(event, ChatTyping):
            return event.sender_role is not self.side  # the other side only
        if isinstance(event, ChatUnread):
            return event.side is self.side  # each side its own count
        return True

    def put(self, event: ChatEvent) -> None:
        if self._problem is not None:
            return
        if len(self._pending) >= MAX_PENDING:
            self.end(StreamOverflow(f"more than {MAX_PENDING} updates unread"))
            return
        self._pending.append(event)
        self._ready.set()

    def end(self, problem: Exception) -> None:
        self._problem = problem
        self._pending.clear()
        self._ready.set()

    async def take(self) -> list[ChatEvent]:
        """Wait for updates and return all that are pending, oldest first."""
        while not self._pending:
            if self._problem is not None:
                raise self._problem
            self._ready.clear()
            await self._ready.wait()
        if self._problem is not None:
            raise self._problem
        batch = list(self._pending)
        self._pending.clear()
        return batch


class ChatFanout:
    """Routes chat events from the hub to the listeners of this process."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._by_conversation: dict[int, set[Listener]] = {}
        self._everything: set[Listener] = set()
        self._by_user: dict[int, set[Listener]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def streams(self) -> int:
        return len(self._everything) + sum(map(len, self._by_conversation.values()))

    def start(self) -> None:
        # Only chat and account kinds: subscribing to everything would make ingest build
        # reading events.
        wanted = CHAT_KINDS | USER_KINDS
        self._unsubscribe = self._hub.subscribe(self._on_event, wanted.__contains__)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for group in (self._everything, *self._by_conversation.values()):
            for listener in group:
                listener.end(StreamClosed("the server is shutting down"))

    @contextmanager
    def listen(
        self, side: Role, conversation_id: int | None, principal: Principal | None = None
    ) -> Iterator[Listener]:
        """Register a stream for as long as the block runs."""
        listener = Listener(side, conversation_id, principal)
        if conversation_id is None:
            group = self._everything
        else:
            group = self._by_conversation.setdefault(conversation_id, set())
        group.add(listener)
        mine = None
        if principal is not None:
            mine = self._by_user.setdefault(principal.user_id, set())
            mine.add(listener)
        try:
            yield listener
        finally:
            group.discard(listener)
            if conversation_id is not None and not group:
                self._by_conversation.pop(conversation_id, None)
            if mine is not None and principal is not None:
                mine.discard(listener)
                if not mine:
                    self._by_user.pop(principal.user_id, None)

    def _end_streams(self, event: AccountRevoked | SessionsEnded) -> None:
        """The account's streams of ended sessions end now, not at the next re-check."""
        listeners = self._by_user.get(event.user_id, ())
        if isinstance(event, AccountRevoked):
            problem = _ENDING.get(type(event), Unauthorized(event.reason))
            for listener in listeners:
                listener.end(problem)
            return
        for listener in listeners:
            session = listener.principal.session_id if listener.principal else None
            if event.ends(session):
                listener.end(Unauthorized(event.reason))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AccountRevoked | SessionsEnded):
            self._end_streams(event)
            return
        if not isinstance(event, ChatEvent):
            return
        followers = self._by_conversation.get(event.conversation_id, ())
        for group in (followers, self._everything):
            for listener in group:
                if listener.wants(event):
                    listener.put(event)
