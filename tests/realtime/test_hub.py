"""The broker-backed hub on a real RabbitMQ: delivery across hubs, once, and bulk kinds paused
while nobody listens."""

from __future__ import annotations

import asyncio

from energymon import keys
from energymon.config import BrokerConfig
from energymon.events import ALERT_RAISED, HOURLY_UPDATED, READING_STORED, BrokerHub, Event
from energymon.services.chat import CHAT_MESSAGE


async def _until(condition, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _reading(device_id: int) -> Event:
    return Event(READING_STORED, {"device_id": device_id}, device_id=device_id, owner_id=1)


async def test_events_reach_the_other_hub_once_and_bulk_kinds_only_while_wanted(rabbit, names):
    config = BrokerConfig(url=rabbit, namespace=names.namespace)
    one, two = BrokerHub(config), BrokerHub(config)
    await one.start()
    await two.start()
    try:
        heard_one: list[Event] = []
        heard_two: list[Event] = []
        one.subscribe(heard_one.append, lambda kind: kind == ALERT_RAISED)
        following = {"on": False}
        two.subscribe(heard_two.append, lambda kind: kind == ALERT_RAISED or following["on"])

        alert = Event(ALERT_RAISED, {"id": 7}, device_id=3, owner_id=1)
        one.publish(alert)
        await _until(lambda: heard_two)
        assert heard_two == [alert]
        assert heard_one == [alert]  # delivered locally at once, not again from the broker

        # Nobody follows readings: the first bulk message comes back, and the kind pauses.
        assert one.wants(READING_STORED)
        one.publish(_reading(3))
        await _until(lambda: not one.wants(READING_STORED))
        assert one.wants(ALERT_RAISED)

        # Someone on the other hub follows: its queue binds, and readings flow again.
        following["on"] = True
        await two.refresh_interest()
        await asyncio.sleep(1.1)  # the pause ends
        assert one.wants(READING_STORED) and one.wants(HOURLY_UPDATED)
        one.publish(_reading(4))
        await _until(lambda: any(e.kind == READING_STORED for e in heard_two))
        assert [e.device_id for e in heard_two if e.kind == READING_STORED] == [4]
        await asyncio.sleep(0.3)
        assert one.wants(READING_STORED)  # it was routed: no pause
    finally:
        await one.close()
        await two.close()


async def test_a_hub_without_broker_wants_only_what_its_subscribers_want():
    from energymon.events import EventHub

    hub = EventHub()
    assert not hub.listening and not hub.wants(READING_STORED)
    unsubscribe = hub.subscribe(lambda _e: None, lambda kind: kind == ALERT_RAISED)
    assert hub.listening and hub.wants(ALERT_RAISED) and not hub.wants(READING_STORED)
    unsubscribe()
    assert not hub.listening


async def test_a_served_app_nobody_watches_builds_no_reading_events(client):
    """Chat and the Socket.IO bridge listen only for what they use: with no device followed,
    the ingest path skips building readings and hour totals (the bulk of its events)."""
    hub = client.app[keys.HUB]
    assert not hub.wants(READING_STORED)
    assert not hub.wants(HOURLY_UPDATED)
    assert hub.wants(ALERT_RAISED)
    assert hub.wants(CHAT_MESSAGE)
