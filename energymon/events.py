"""The event hub: services announce what happened, transports subscribe and push it on.

In one process the hub calls its subscribers directly. Subscribers must not block: they
queue work of their own (a Socket.IO emit, a gRPC stream write) and return.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_LOGGER = logging.getLogger(__name__)

READING_STORED = "reading"
HOURLY_UPDATED = "hourly"
ALERT_RAISED = "alert_raised"
# A late cumulative reading re-split an hour so that its alert no longer holds.
ALERT_WITHDRAWN = "alert_withdrawn"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, with who may hear of it."""

    kind: str
    payload: dict[str, Any]
    device_id: int | None = None
    owner_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventHub:
    """Fan events out to subscribers in this process."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    @property
    def listening(self) -> bool:
        """Whether anyone subscribed: publishers may skip building events nobody hears."""
        return bool(self._subscribers)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                _LOGGER.exception("event subscriber failed on %s", event.kind)
