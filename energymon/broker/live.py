"""The live exchange: a stable, documented stream of what this process stored, for other programs.

Every reading, hour total change and alert this process committed is published once, as one
JSON message, on the durable topic exchange `<namespace>.live` (docs/live/*.schema.json, README
"Live exchange"), under the routing key

    site.<site id | none>.device.<device id>.<kind>     kind: reading | hour | alert | status
    site.<site id>.site.alert                           an alert about a whole site

Only events published in this process are sent (the hub's `local` subscribers): events other
processes share through `<namespace>.events` were sent to the live exchange by whoever
committed them. Each batch of events is written to the channel in one go (see `_flush`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import cast

import aiormq
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from pamqp.commands import Basic

from energymon.broker.connect import connect
from energymon.broker.outbox import Outbox
from energymon.broker.topology import Names, declare_live
from energymon.config import BrokerConfig
from energymon.events import (
    AlertRaised,
    AlertWithdrawn,
    Event,
    EventHub,
    HourTotalChanged,
    ReadingStored,
)
from energymon.models import Alert

_LOGGER = logging.getLogger(__name__)

VERSION = 1
# The kinds rendered here. Device status changes (`status`) and site alerts render here too
# once devices report health and belong to sites: add their events to this tuple and a branch
# to `render`; docs/live/status.schema.json and alert.schema.json already describe them.
LIVE_KINDS: tuple[type[Event], ...] = (ReadingStored, HourTotalChanged, AlertRaised, AlertWithdrawn)
CONTENT_TYPE = "application/json"
# How long closing waits for what is still pending to be published.
FLUSH_ON_CLOSE_S = 2.0

Body = dict[str, object]


def device_key(site_id: int | None, device_id: int, kind: str) -> str:
    """`site.<site_id|none>.device.<device_id>.<kind>`."""
    site = "none" if site_id is None else str(site_id)
    return f"site.{site}.device.{device_id}.{kind}"


def site_key(site_id: int) -> str:
    """`site.<site_id>.site.alert`: an alert about a whole site."""
    return f"site.{site_id}.site.alert"


def _utc(moment: datetime) -> str:
    # Stored times are UTC; a driver may hand them back without their zone.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert_body(alert: Alert, state: str, site_id: int | None) -> Body:
    return {
        "version": VERSION,
        "kind": "alert",
        "site_id": site_id,
        "device_id": alert.device_id,
        "ts": alert.hour_ts,
        "state": state,
        "alert_id": alert.id,
        "rule": alert.kind,
        "value": alert.value,
        "limit_wh": alert.limit_wh,
        "late": alert.late,
        "created_at": _utc(alert.created_at),
    }


def render(event: Event) -> tuple[str, Body] | None:
    """The routing key and body of an event on the live exchange (None: not published)."""
    # Devices belong to no site yet: every message says site_id null, routed under `none`.
    site_id: int | None = None
    if isinstance(event, ReadingStored):
        reading = event.reading
        return device_key(site_id, reading.device_id, "reading"), {
            "version": VERSION,
            "kind": "reading",
            "site_id": site_id,
            "device_id": reading.device_id,
            "ts": reading.ts,
            "value_mwh": reading.value_mwh,
            "consumption_mwh": reading.consumption_mwh,
        }
    if isinstance(event, HourTotalChanged):
        return device_key(site_id, event.device_id, "hour"), {
            "version": VERSION,
            "kind": "hour",
            "site_id": site_id,
            "device_id": event.device_id,
            "ts": event.hour_ts,
            "total_mwh": event.total_mwh,
            "limit_wh": event.limit_wh,
            "over_limit": event.over_limit,
        }
    if isinstance(event, AlertRaised):
        key = device_key(site_id, event.alert.device_id, "alert")
        return key, _alert_body(event.alert, "raised", site_id)
    if isinstance(event, AlertWithdrawn):
        key = device_key(site_id, event.alert.device_id, "alert")
        return key, _alert_body(event.alert, "withdrawn", site_id)
    return None


def encode(body: Body) -> bytes:
    """Compact UTF-8 JSON, the way every live message is written."""
    return json.dumps(body, separators=(",", ":")).encode()


class LivePublisher:
    """Publishes this process's events to `<namespace>.live` while started."""

    def __init__(self, config: BrokerConfig, hub: EventHub, max_pending: int) -> None:
        self._config = config
        self._hub = hub
        self.names = Names(config.namespace)
        self.outbox = Outbox(max_pending)
        self._wakeup = asyncio.Event()
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        self._connection = await connect(self._config)
        try:
            # No confirms: messages are notifications (storage holds the truth), and a broker
            # that refuses a publish closes the channel, which the next flush reports.
            channel = await self._connection.channel(publisher_confirms=False)
            await declare_live(channel, self.names)
            self._channel = channel
        except BaseException:
            await self._connection.close()
            self._connection = None
            raise
        self._task = asyncio.create_task(
            self.outbox.send_loop(self._wakeup, self._flush, "to the live exchange"),
            name="energymon-live-sender",
        )
        self._unsubscribe = self._hub.subscribe(self._heard, _wanted, local=True)
        # The ingest path builds readings and hour totals only while they are wanted.
        await self._hub.refresh_interest()
        _LOGGER.info("live stream published to exchange %s", self.names.live)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush(), FLUSH_ON_CLOSE_S)
        self.outbox.report()
        self._channel = None
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def _heard(self, event: Event) -> None:
        self.outbox.put(event)
        self._wakeup.set()

    async def _flush(self) -> None:
        """Everything pending, one message per event, written in one go."""
        events = self.outbox.take()
        channel = self._channel
        if not events or channel is None:
            return
        messages = [rendered for event in events if (rendered := render(event)) is not None]
        if not messages:
            return
        # aio-pika's publish waits for each message to be written before the next may start
        # (a loop turn each): the channel underneath queues the whole batch without waiting,
        # and only the last publish waits until everything is written, so a slow broker holds
        # the next batch back here (in the bounded outbox), not in an unbounded write queue.
        # The abstract channel omits `wait`; aiormq's has it.
        underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
        exchange = self.names.live
        last = len(messages) - 1
        for index, (key, body) in enumerate(messages):
            await underlay.basic_publish(
                encode(body),
                exchange=exchange,
                routing_key=key,
                properties=Basic.Properties(content_type=CONTENT_TYPE, delivery_mode=1),
                wait=index == last,
            )


def _wanted(kind: type[Event]) -> bool:
    return kind in LIVE_KINDS


@contextlib.asynccontextmanager
async def publishing(config: BrokerConfig, hub: EventHub, max_pending: int) -> AsyncIterator[None]:
    """Publish the live stream while inside."""
    publisher = LivePublisher(config, hub, max_pending)
    await publisher.start()
    try:
        yield
    finally:
        await publisher.close()
