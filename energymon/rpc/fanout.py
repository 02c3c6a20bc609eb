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
from typing import Any

from energymon import events as ev
from energymon.errors import Forbidden, Unauthorized
from energymon.events import Event, EventHub
from energymon.models import Principal, Role
from energymon.services.chat import CHAT_TYPING, CHAT_UNREAD, KINDS

_LOGGER = logging.getLogger(__name__)

# Updates a stream may have waiting before it counts as stuck and is ended.
MAX_PENDING = 10_000
# Events that end streams at once: the account or the session they were opened with is gone.
_ENDING = {
    ev.USER_DISABLED: Unauthorized("this account is disabled"),
    ev.USER_DELETED: Unauthorized("this account no longer exists"),
    ev.USER_DEMOTED: Forbidden("your role changed: open the stream again"),
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
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._ready = asyncio.Event()
        # Why the stream must end (overflow, shutdown, the account was disabled), once known.
        self._problem: Exception | None = None

    def wants(self, kind: str, payload: dict[str, Any]) -> bool:
        if kind == CHAT_TYPING:
            return payload.get("sender_role") != self.side.value  # the other side only
        if kind == CHAT_UNREAD:
            return payload.get("side") == self.side.value  # each side its own count
        return True

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        if self._problem is not None:
            return
        if len(self._pending) >= MAX_PENDING:
            self.end(StreamOverflow(f"more than {MAX_PENDING} updates unread"))
            return
        self._pending.append((kind, payload))
        self._ready.set()

    def end(self, problem: Exception) -> None:
        self._problem = problem
        self._pending.clear()
        self._ready.set()

    async def take(self) -> list[tuple[str, dict[str, Any]]]:
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
        wanted = KINDS | ev.USER_KINDS
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

    def _end_streams(self, event: Event) -> None:
        """The account's streams of ended sessions end now, not at the next re-check."""
        listeners = self._by_user.get(event.owner_id or 0, ())
        if event.kind in _ENDING:
            for listener in listeners:
                listener.end(_ENDING[event.kind])
            return
        only, keep = event.payload.get("sessions"), event.payload.get("keep")
        reason = str(event.payload.get("reason") or "your session ended")
        for listener in listeners:
            session = listener.principal.session_id if listener.principal else None
            if (only is None or session in only) and (keep is None or session != keep):
                listener.end(Unauthorized(reason))

    def _on_event(self, event: Event) -> None:
        if event.kind in ev.USER_KINDS:
            self._end_streams(event)
            return
        if event.kind not in KINDS:
            return
        payload = event.payload
        cid = payload.get("conversation_id")
        followers = self._by_conversation.get(cid, ()) if isinstance(cid, int) else ()
        for group in (followers, self._everything):
            for listener in group:
                if listener.wants(event.kind, payload):
                    listener.put(event.kind, payload)
