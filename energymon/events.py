"""The event hub: services announce what happened, transports subscribe and push it on.

In one process the hub calls its subscribers directly. Subscribers must not block: they
queue work of their own (a Socket.IO emit, a gRPC stream write) and return.

With a broker (`broker.url`), `BrokerHub` also carries every event to the other energymon
processes through the topic exchange `<namespace>.events`. Each process delivers its own
events locally at once and binds an exclusive queue for everyone else's, skipping the
messages it sent itself, so nothing is delivered twice. Events published in one go (an
ingest batch announces hundreds) are sent after the publisher returns, as one AMQP
message per routing key: readings and hourly totals of a whole batch travel together.

Readings and hour totals (the bulk kinds) cost the ingest path most, so nobody builds them
unless someone listens: `wants(kind)` asks the local subscribers, and a process binds its
queue to the bulk routing keys only while its own subscribers want them. Bulk messages are
published `mandatory`: when the broker returns one (no queue bound, here or in any other
program), the kind pauses for `UNROUTED_PAUSE_S` before the next try.

Routing keys (other programs may bind their own queues to the exchange):
- `devices.reading`, `devices.hourly`: lists of readings / hour totals, many devices each;
- `device.<id>.alert`, `device.<id>.alert_withdrawn`, `device.<id>.assigned`,
  `device.<id>.unassigned`;
- `user.<id>.disabled`, `user.<id>.deleted`, `user.<id>.demoted`, `user.<id>.sessions_ended`;
- `chat.<conversation id>.<what>` for chat events (kinds `chat_<what>`);
- `other.<kind>` for anything else.
The body of every message is a JSON array of events, each
`{"kind", "payload", "device_id", "owner_id", "extra"}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from aiormq.abc import DeliveredMessage

from energymon.config import BrokerConfig

_LOGGER = logging.getLogger(__name__)

READING_STORED = "reading"
HOURLY_UPDATED = "hourly"
ALERT_RAISED = "alert_raised"
# A late cumulative reading re-split an hour so that its alert no longer holds.
ALERT_WITHDRAWN = "alert_withdrawn"
# A device got an owner (owner_id: the new owner; extra["previous_owner_id"]: the one before).
DEVICE_ASSIGNED = "device_assigned"
# A device lost its owner: unassigned, reassigned or deleted (owner_id: the previous owner).
DEVICE_UNASSIGNED = "device_unassigned"
# An account can no longer use its sessions (owner_id: that account).
USER_DISABLED = "user_disabled"
USER_DELETED = "user_deleted"
# An admin became a normal user: what they may follow changed.
USER_DEMOTED = "user_demoted"
USER_REVOKED = frozenset({USER_DISABLED, USER_DELETED, USER_DEMOTED})
# Sessions of an account ended (logout, a password or role change; owner_id: the account).
# Payload {"user_id", "sessions": [ids] or null for all, "keep": an id or null, "reason"}.
SESSIONS_ENDED = "user_sessions_ended"
USER_KINDS = USER_REVOKED | {SESSIONS_ENDED}

# Unsent events kept while the broker is unreachable; beyond it the oldest are dropped.
MAX_OUTBOX = 100_000
# Many of these come with every ingest batch: they are built and sent only while someone
# wants them (a follower in this process, or a queue bound to their routing key).
BULK_KEYS = {READING_STORED: "devices.reading", HOURLY_UPDATED: "devices.hourly"}
# After the broker returned a bulk message (nobody bound), skip that kind for this long.
UNROUTED_PAUSE_S = 1.0
# How often the bindings for bulk kinds follow this process's own interest.
INTEREST_REFRESH_S = 2.0


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, with who may hear of it. Payloads are JSON-serializable."""

    kind: str
    payload: dict[str, Any]
    device_id: int | None = None
    owner_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "payload": self.payload,
            "device_id": self.device_id,
            "owner_id": self.owner_id,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            kind=str(data["kind"]),
            payload=dict(data["payload"]),
            device_id=data.get("device_id"),
            owner_id=data.get("owner_id"),
            extra=dict(data.get("extra") or {}),
        )


Subscriber = Callable[[Event], None]
# Whether a subscriber wants events of a kind now (None: every kind, always).
Interest = Callable[[str], bool] | None


def rfc3339(ts: float) -> str:
    """Unix seconds as the RFC 3339 UTC time events carry (whole seconds, ending in Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def routing_key(event: Event) -> str:
    """The routing key an event travels under on the events exchange."""
    kind = event.kind
    if kind == READING_STORED:
        return "devices.reading"
    if kind == HOURLY_UPDATED:
        return "devices.hourly"
    if event.device_id is not None and kind in _DEVICE_KEYS:
        return f"device.{event.device_id}.{_DEVICE_KEYS[kind]}"
    if event.owner_id is not None and kind in USER_KINDS:
        return f"user.{event.owner_id}.{kind.removeprefix('user_')}"
    if kind.startswith("chat_"):
        conversation = event.payload.get("conversation_id", "none")
        return f"chat.{conversation}.{kind.removeprefix('chat_')}"
    return f"other.{kind}"


_BULK_ROUTING_KEYS = frozenset(BULK_KEYS.values())
_DEVICE_KEYS = {
    ALERT_RAISED: "alert",
    ALERT_WITHDRAWN: "alert_withdrawn",
    DEVICE_ASSIGNED: "assigned",
    DEVICE_UNASSIGNED: "unassigned",
}


class EventHub:
    """Fan events out to subscribers in this process."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[Subscriber, Interest]] = []

    @property
    def listening(self) -> bool:
        """Whether anyone subscribed: publishers may skip building events nobody hears."""
        return bool(self._subscribers)

    def wants(self, kind: str) -> bool:
        """Whether events of this kind are heard now: publishers skip building them if not."""
        return any(interest is None or interest(kind) for _, interest in self._subscribers)

    def subscribe(self, subscriber: Subscriber, interest: Interest = None) -> Callable[[], None]:
        entry = (subscriber, interest)
        self._subscribers.append(entry)
        return lambda: self._subscribers.remove(entry)

    def publish(self, event: Event) -> None:
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for subscriber, _ in list(self._subscribers):
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


def events_exchange(namespace: str) -> str:
    return f"{namespace}.events"


class BrokerHub(EventHub):
    """The hub across processes: local delivery at once, everyone else through RabbitMQ."""

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__()
        self._config = config
        # Tells this process's own messages apart when they come back from the exchange.
        self.origin = f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
        self._connection: AbstractRobustConnection | None = None
        self._exchange: AbstractExchange | None = None
        self._queue: AbstractQueue | None = None
        self._outbox: list[Event] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Bulk routing keys this process's queue is bound to, and when a returned (unrouted)
        # bulk message says nobody else listens: skip that kind until then.
        self._bound: set[str] = set()
        self._unrouted_until: dict[str, float] = {}
        self._binding = asyncio.Lock()

    @property
    def listening(self) -> bool:
        # Other processes and programs may listen on the exchange.
        return self._exchange is not None or bool(self._subscribers)

    def wants(self, kind: str) -> bool:
        if super().wants(kind):
            return True
        if self._exchange is None:
            return False
        key = BULK_KEYS.get(kind)
        if key is None:
            return True
        return time.monotonic() >= self._unrouted_until.get(key, 0.0)

    def publish(self, event: Event) -> None:
        self._deliver(event)
        if self._exchange is None:
            return
        self._outbox.append(event)
        if len(self._outbox) > MAX_OUTBOX:
            del self._outbox[: len(self._outbox) - MAX_OUTBOX]
            _LOGGER.warning("events outbox full: oldest events dropped")
        self._wakeup.set()

    async def start(self) -> None:
        context = None
        if self._config.url.startswith("amqps://"):
            context = ssl.create_default_context(cafile=self._config.ca_file or None)
        self._connection = await aio_pika.connect_robust(self._config.url, ssl_context=context)
        try:
            # Confirms: the broker's answer tells a bulk message nobody was bound to.
            channel = await self._connection.channel(publisher_confirms=True)
            exchange = await declare_events(channel, self._config.namespace)
            queue = await channel.declare_queue(
                f"{exchange.name}.{self.origin}", exclusive=True, auto_delete=True
            )
            # Everything but the bulk kinds, which are bound only while followed here.
            for pattern in ("device.#", "user.#", "chat.#", "other.#"):
                await queue.bind(exchange, pattern)
            await queue.consume(self._received, no_ack=True)
        except BaseException:
            await self._connection.close()
            self._connection = None
            raise
        self._exchange, self._queue = exchange, queue
        await self.refresh_interest()
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="energymon-events-sender"),
            asyncio.create_task(self._interest_loop(), name="energymon-events-interest"),
        ]
        _LOGGER.info("events shared through exchange %s", exchange.name)

    async def refresh_interest(self) -> None:
        """Bind the bulk routing keys this process's subscribers want, unbind the others."""
        if self._queue is None or self._exchange is None:
            return
        async with self._binding:
            for kind, key in BULK_KEYS.items():
                wanted = super().wants(kind)
                if wanted and key not in self._bound:
                    await self._queue.bind(self._exchange, key)
                    self._bound.add(key)
                elif not wanted and key in self._bound:
                    await self._queue.unbind(self._exchange, key)
                    self._bound.discard(key)

    async def _interest_loop(self) -> None:
        while True:
            await asyncio.sleep(INTEREST_REFRESH_S)
            try:
                await self.refresh_interest()
            except asyncio.CancelledError:
                raise
            except Exception:
                _LOGGER.warning("could not update the events queue's bindings", exc_info=True)

    def _returned(self, _channel: object, message: AbstractIncomingMessage) -> None:
        """The broker had no queue for a bulk message: nobody listens to that kind now."""
        key = message.routing_key or ""
        if key in BULK_KEYS.values():
            self._unrouted_until[key] = time.monotonic() + UNROUTED_PAUSE_S

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), 2)
        self._tasks = []
        self._exchange = self._queue = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def _send_loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Events are notifications (storage holds the truth): log, go on.
                _LOGGER.exception("could not publish events to the broker")

    async def _flush(self) -> None:
        """Everything published since the last flush, one message per routing key."""
        events, self._outbox = self._outbox, []
        if not events or self._exchange is None:
            return
        groups: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            groups.setdefault(routing_key(event), []).append(event.to_json())
        results = await asyncio.gather(
            *(
                self._exchange.publish(
                    aio_pika.Message(
                        json.dumps(group, separators=(",", ":")).encode(),
                        content_type="application/json",
                        app_id=self.origin,
                    ),
                    routing_key=key,
                    # Bulk messages nobody is bound to come back: their kind pauses a while.
                    mandatory=key in _BULK_ROUTING_KEYS,
                )
                for key, group in groups.items()
            ),
            return_exceptions=True,
        )
        for key, result in zip(groups, results, strict=True):
            if isinstance(result, DeliveredMessage):  # returned: no queue for this key
                self._unrouted_until[key] = time.monotonic() + UNROUTED_PAUSE_S
            elif isinstance(result, BaseException):
                _LOGGER.warning("events for %s not published: %r", key, result)

    async def _received(self, message: AbstractIncomingMessage) -> None:
        if message.app_id == self.origin:
            return
        try:
            events = [Event.from_json(item) for item in json.loads(message.body)]
        except (ValueError, TypeError, KeyError, AttributeError):
            _LOGGER.warning("ignored a malformed events message (%s)", message.routing_key)
            return
        for event in events:
            self._deliver(event)


async def declare_events(channel: AbstractChannel, namespace: str) -> AbstractExchange:
    """The durable topic exchange every process publishes its events to."""
    return await channel.declare_exchange(
        events_exchange(namespace), aio_pika.ExchangeType.TOPIC, durable=True
    )


def make_hub(config: BrokerConfig) -> EventHub:
    """The hub for this configuration: across processes when a broker is configured."""
    return BrokerHub(config) if config.url else EventHub()
