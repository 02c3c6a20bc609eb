"""Typed events and the in-process hub: services announce what happened, transports render it.

Every event is a frozen dataclass carrying domain models (or plain ids); no event knows how a
browser, a gRPC stream or the broker shows it. Each transport renders the kinds it carries:
the Socket.IO bridge with the REST `Out` models, the gRPC service with the proto messages,
the broker (energymon/broker) with its versioned codec.

In one process the hub calls its subscribers directly. Subscribers must not block: they
queue work of their own (a Socket.IO emit, a gRPC stream write) and return.

Readings and hour totals (the bulk kinds) cost the ingest path most, so nobody builds them
unless someone listens: `wants(kind)` asks the subscribers before the ingest path builds them.
A `local` subscriber hears only the events published in its own process, never those the
broker brings from others (the live exchange publishes each event once, where it happened).

Every event knows the routing key it travels under on the broker's events exchange (a
contract other programs bind to, documented in the README):
- `devices.reading`, `devices.hourly`: readings / hour totals, many devices each;
- `device.<id>.alert`, `device.<id>.alert_withdrawn`, `device.<id>.assigned`,
  `device.<id>.unassigned`;
- `user.<id>.disabled`, `user.<id>.deleted`, `user.<id>.demoted`, `user.<id>.sessions_ended`;
- `chat.<conversation id>.<what>` for chat events (kinds `chat_<what>`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from energymon.models import Alert, ChatMessage, Device, Role, StoredReading

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened; subclasses say what, and who besides the admins may hear."""

    # The kind's name on the broker's wire (and in logs); unique per class.
    kind: ClassVar[str] = "event"
    # Many of these come with every ingest batch: built and sent only while someone wants them.
    bulk: ClassVar[bool] = False
    # The routing key of every event of a bulk kind ("" where it depends on the event).
    ROUTING_KEY: ClassVar[str] = ""

    def routing_key(self) -> str:
        """The routing key this event travels under on the events exchange."""
        return f"other.{self.kind}"


@dataclass(frozen=True, slots=True)
class ReadingStored(Event):
    """A new reading; `owner_id` is who besides the admins may hear of it (its audience)."""

    kind: ClassVar[str] = "reading"
    bulk: ClassVar[bool] = True
    ROUTING_KEY: ClassVar[str] = "devices.reading"

    reading: StoredReading
    owner_id: int | None

    @property
    def device_id(self) -> int:
        return self.reading.device_id

    def routing_key(self) -> str:
        return self.ROUTING_KEY


@dataclass(frozen=True, slots=True)
class HourTotalChanged(Event):
    """An hour's total changed (mWh), against the device's limit at the time (Wh)."""

    kind: ClassVar[str] = "hourly"
    bulk: ClassVar[bool] = True
    ROUTING_KEY: ClassVar[str] = "devices.hourly"

    device_id: int
    hour_ts: int
    total_mwh: int
    limit_wh: int
    over_limit: bool
    owner_id: int | None

    def routing_key(self) -> str:
        return self.ROUTING_KEY


@dataclass(frozen=True, slots=True)
class AlertRaised(Event):
    """A device went over its limit; the alert's `owner_id` is who besides admins hears."""

    kind: ClassVar[str] = "alert_raised"

    alert: Alert
    device_description: str = ""

    def routing_key(self) -> str:
        return f"device.{self.alert.device_id}.alert"


@dataclass(frozen=True, slots=True)
class AlertWithdrawn(Event):
    """A late cumulative reading re-split an hour so that its alert no longer holds."""

    kind: ClassVar[str] = "alert_withdrawn"

    alert: Alert

    def routing_key(self) -> str:
        return f"device.{self.alert.device_id}.alert_withdrawn"


@dataclass(frozen=True, slots=True)
class DeviceAssigned(Event):
    """A device got an owner (`device.owner_id`), who had `previous_owner_id` before."""

    kind: ClassVar[str] = "device_assigned"

    device: Device
    previous_owner_id: int | None = None

    def routing_key(self) -> str:
        return f"device.{self.device.id}.assigned"


@dataclass(frozen=True, slots=True)
class DeviceUnassigned(Event):
    """A device lost its owner `owner_id`: unassigned, reassigned (to `new_owner_id`) or
    deleted."""

    kind: ClassVar[str] = "device_unassigned"

    device_id: int
    owner_id: int
    new_owner_id: int | None = None

    def routing_key(self) -> str:
        return f"device.{self.device_id}.unassigned"


@dataclass(frozen=True, slots=True)
class AccountRevoked(Event):
    """An account can no longer use its sessions the way it did."""

    kind: ClassVar[str] = "user_revoked"
    # What a connection closed for this reason is told.
    reason: ClassVar[str] = "your account changed"

    user_id: int

    def routing_key(self) -> str:
        return f"user.{self.user_id}.{self.kind.removeprefix('user_')}"


@dataclass(frozen=True, slots=True)
class UserDisabled(AccountRevoked):
    """An admin disabled the account."""

    kind: ClassVar[str] = "user_disabled"
    reason: ClassVar[str] = "your account was disabled"


@dataclass(frozen=True, slots=True)
class UserDeleted(AccountRevoked):
    """The account was deleted."""

    kind: ClassVar[str] = "user_deleted"
    reason: ClassVar[str] = "your account was deleted"


@dataclass(frozen=True, slots=True)
class UserDemoted(AccountRevoked):
    """An admin became a normal user: what they may follow changed."""

    kind: ClassVar[str] = "user_demoted"
    reason: ClassVar[str] = "your role changed: connect again"


@dataclass(frozen=True, slots=True)
class SessionsEnded(Event):
    """Sessions of an account ended (logout, a password or role change): `sessions`, or all
    but `keep` when `sessions` is None."""

    kind: ClassVar[str] = "user_sessions_ended"

    user_id: int
    reason: str
    sessions: tuple[str, ...] | None = None
    keep: str | None = None

    def ends(self, session_id: str | None) -> bool:
        """Whether a connection opened with `session_id` must close."""
        listed = self.sessions is None or session_id in self.sessions
        return listed and (self.keep is None or session_id != self.keep)

    def routing_key(self) -> str:
        return f"user.{self.user_id}.sessions_ended"


@dataclass(frozen=True, slots=True)
class ChatEvent(Event):
    """Something in one conversation (a user's, with the admins; its id is the user's)."""

    kind: ClassVar[str] = "chat_event"

    conversation_id: int

    def routing_key(self) -> str:
        return f"chat.{self.conversation_id}.{self.kind.removeprefix('chat_')}"


@dataclass(frozen=True, slots=True)
class ChatMessagePosted(ChatEvent):
    """A message was stored in its conversation (`message.user_id`)."""

    kind: ClassVar[str] = "chat_message"

    message: ChatMessage

    @classmethod
    def of(cls, message: ChatMessage) -> ChatMessagePosted:
        return cls(message.user_id, message)


@dataclass(frozen=True, slots=True)
class ChatTyping(ChatEvent):
    """Someone started or stopped typing (never stored)."""

    kind: ClassVar[str] = "chat_typing"

    sender_id: int
    sender_name: str
    sender_role: Role
    typing: bool


@dataclass(frozen=True, slots=True)
class ChatRead(ChatEvent):
    """One side read up to `message_id`."""

    kind: ClassVar[str] = "chat_read"

    reader_id: int
    reader_role: Role
    message_id: int


@dataclass(frozen=True, slots=True)
class ChatUnread(ChatEvent):
    """How many messages `side` has not read yet."""

    kind: ClassVar[str] = "chat_unread"

    side: Role
    unread: int


# Every concrete kind: the broker codec handles them all (tests hold it to that).
KINDS: tuple[type[Event], ...] = (
    ReadingStored,
    HourTotalChanged,
    AlertRaised,
    AlertWithdrawn,
    DeviceAssigned,
    DeviceUnassigned,
    UserDisabled,
    UserDeleted,
    UserDemoted,
    SessionsEnded,
    ChatMessagePosted,
    ChatTyping,
    ChatRead,
    ChatUnread,
)
BULK_KINDS: tuple[type[ReadingStored], type[HourTotalChanged]] = (ReadingStored, HourTotalChanged)
CHAT_KINDS = frozenset({ChatMessagePosted, ChatTyping, ChatRead, ChatUnread})
# Kinds that end an account's connections and streams.
USER_KINDS = frozenset({UserDisabled, UserDeleted, UserDemoted, SessionsEnded})

Subscriber = Callable[[Event], None]
# Whether a subscriber wants events of a kind now (None: every kind, always).
Interest = Callable[[type[Event]], bool] | None


class EventHub:
    """Fan events out to subscribers in this process."""

    def __init__(self) -> None:
        # (subscriber, interest, local): a local subscriber hears only this process's events.
        self._subscribers: list[tuple[Subscriber, Interest, bool]] = []

    @property
    def listening(self) -> bool:
        """Whether anyone subscribed: publishers may skip building events nobody hears."""
        return bool(self._subscribers)

    def wants(self, kind: type[Event]) -> bool:
        """Whether events of this kind are heard now: publishers skip building them if not."""
        return any(interest is None or interest(kind) for _, interest, _ in self._subscribers)

    def wants_from_others(self, kind: type[Event]) -> bool:
        """Whether a subscriber here wants this kind from other processes too."""
        return any(
            not local and (interest is None or interest(kind))
            for _, interest, local in self._subscribers
        )

    def subscribe(
        self, subscriber: Subscriber, interest: Interest = None, *, local: bool = False
    ) -> Callable[[], None]:
        """Hear events (those `interest` wants; with `local`, only this process's own);
        returns the way to stop."""
        entry = (subscriber, interest, local)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry)

    def publish(self, event: Event) -> None:
        """Deliver to this process's subscribers at once."""
        self._deliver(event)

    def _deliver(self, event: Event, *, remote: bool = False) -> None:
        for subscriber, _, local in list(self._subscribers):
            if remote and local:
                continue
            try:
                subscriber(event)
            except Exception:
                _LOGGER.exception("event subscriber failed on %s", event.kind)

    async def refresh_interest(self) -> None:
        """A subscriber's interest changed: with a broker, follow it in the queue's bindings."""

    async def start(self) -> None:
        """Connect to whatever carries events between processes (nothing, here)."""

    async def close(self) -> None:
        """Send what is pending and disconnect."""
