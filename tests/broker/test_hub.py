"""The broker-backed hub on a real RabbitMQ: delivery across hubs, once, and bulk kinds paused
while nobody listens."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aio_pika

from energymon import keys
from energymon.broker.hub import BrokerHub
from energymon.config import BrokerConfig
from energymon.events import (
    AlertRaised,
    ChatMessagePosted,
    Event,
    EventHub,
    HourTotalChanged,
    ReadingStored,
)
from energymon.models import Alert, StoredReading


async def _until(condition, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _reading(device_id: int) -> ReadingStored:
    return ReadingStored(StoredReading(device_id, 1_700_000_000, 500, 500), owner_id=1)


def _alert(alert_id: int, device_id: int) -> AlertRaised:
    created = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
    alert = Alert(
        alert_id, device_id, 1_700_000_000 - 1_700_000_000 % 3600, "hourly_limit",
        2_500_000, 2000, False, created, None, owner_id=1,
    )  # fmt: skip
    return AlertRaised(alert, "Heat pump")


async def test_events_reach_the_other_hub_once_and_bulk_kinds_only_while_wanted(rabbit, names):
    config = BrokerConfig(url=rabbit, namespace=names.namespace)
    one, two = BrokerHub(config), BrokerHub(config)
    await one.start()
    await two.start()
    try:
        heard_one: list[Event] = []
        heard_two: list[Event] = []
        one.subscribe(heard_one.append, lambda kind: kind is AlertRaised)
        following = {"on": False}
        two.subscribe(heard_two.append, lambda kind: kind is AlertRaised or following["on"])

        alert = _alert(7, 3)
        one.publish(alert)
        await _until(lambda: heard_two)
        assert heard_two == [alert]  # the same typed event, through the codec
        assert heard_one == [alert]  # delivered locally at once, not again from the broker

        # Nobody follows readings: the first bulk message comes back, and the kind pauses.
        assert one.wants(ReadingStored)
        one.publish(_reading(3))
        await _until(lambda: not one.wants(ReadingStored))
        assert one.wants(AlertRaised)

        # Someone on the other hub follows: its queue binds, and readings flow again.
        following["on"] = True
        await two.refresh_interest()
        await asyncio.sleep(1.1)  # the pause ends
        assert one.wants(ReadingStored) and one.wants(HourTotalChanged)
        one.publish(_reading(4))
        await _until(lambda: any(isinstance(e, ReadingStored) for e in heard_two))
        assert [e for e in heard_two if isinstance(e, ReadingStored)] == [_reading(4)]
        await asyncio.sleep(0.3)
        assert one.wants(ReadingStored)  # it was routed: no pause
    finally:
        await one.close()
        await two.close()


async def test_a_hub_without_broker_wants_only_what_its_subscribers_want():
    hub = EventHub()
    assert not hub.listening and not hub.wants(ReadingStored)
    unsubscribe = hub.subscribe(lambda _e: None, lambda kind: kind is AlertRaised)
    assert hub.listening and hub.wants(AlertRaised) and not hub.wants(ReadingStored)
    unsubscribe()
    assert not hub.listening


async def test_a_served_app_nobody_watches_builds_no_reading_events(client):
    """Chat and the Socket.IO bridge listen only for what they use: with no device followed,
    the ingest path skips building readings and hour totals (the bulk of its events)."""
    hub = client.app[keys.HUB]
    assert not hub.wants(ReadingStored)
    assert not hub.wants(HourTotalChanged)
    assert hub.wants(AlertRaised)
    assert hub.wants(ChatMessagePosted)


async def test_a_process_of_the_previous_release_and_a_newer_one_are_heard_or_skipped(
    rabbit, names
):
    """During a rolling upgrade the exchange carries bodies without `v` (the release before)
    and perhaps of a newer version: the first are delivered, the second skipped."""
    hub = BrokerHub(BrokerConfig(url=rabbit, namespace=names.namespace))
    await hub.start()
    heard: list[Event] = []
    hub.subscribe(heard.append, lambda kind: kind is AlertRaised)
    previous = {
        "kind": "alert_raised",
        "payload": {
            "id": 7,
            "device_id": 3,
            "device_description": "Heat pump",
            "kind": "hourly_limit",
            "hour": "2023-11-14T22:00:00Z",
            "total_kwh": 2.5,
            "power_kw": None,
            "limit_kwh": 2.0,
            "late": False,
            "created_at": "2026-11-20T05:30:00Z",
            "acknowledged": False,
        },
        "device_id": 3,
        "owner_id": 1,
        "extra": {},
    }
    newer = {**previous, "v": 2, "payload": {"alert": {"id": 8}}}
    try:
        connection = await aio_pika.connect(rabbit)
        async with connection:
            exchange = await (await connection.channel()).get_exchange(names.events)
            for body in ([newer], [previous]):
                message = aio_pika.Message(json.dumps(body).encode(), app_id="an older process")
                await exchange.publish(message, routing_key="device.3.alert")
        await _until(lambda: heard)
        assert heard == [_alert(7, 3)]
    finally:
        await hub.close()
