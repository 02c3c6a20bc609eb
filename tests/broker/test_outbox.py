"""The outbox: bounded, publish order kept, readings and hour totals dropped before chat,
and alerts, owner changes and revocations only when nothing else is left; one log line
says what went."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from energymon.broker.outbox import Outbox
from energymon.events import (
    AlertRaised,
    ChatUnread,
    DeviceUnassigned,
    Event,
    HourTotalChanged,
    ReadingStored,
    SessionsEnded,
    UserDisabled,
)
from energymon.models import Alert, Role, StoredReading


def reading(ts: int) -> ReadingStored:
    return ReadingStored(StoredReading(1, ts, 1, 1), owner_id=None)


def hourly(hour: int) -> HourTotalChanged:
    return HourTotalChanged(1, hour, 1, 1, False, owner_id=None)


def alert(alert_id: int) -> AlertRaised:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return AlertRaised(Alert(alert_id, 1, 0, "hourly_limit", 1, 1, False, created, None))


def chat(unread: int) -> ChatUnread:
    return ChatUnread(1, Role.USER, unread)


def fill(outbox: Outbox, events: list[Event]) -> None:
    for event in events:
        outbox.put(event)


def test_what_fits_leaves_in_publish_order():
    outbox = Outbox(10)
    events: list[Event] = [reading(1), alert(1), hourly(0), chat(1), reading(2), UserDisabled(3)]
    fill(outbox, events)
    assert len(outbox) == 6
    assert outbox.take() == events
    assert len(outbox) == 0 and outbox.take() == []


def test_when_full_the_oldest_readings_and_hours_go_first(caplog):
    outbox = Outbox(4)
    with caplog.at_level(logging.WARNING, logger="energymon.broker.outbox"):
        fill(outbox, [reading(1), alert(1), hourly(0), reading(2), chat(1), alert(2)])
    assert outbox.take() == [alert(1), reading(2), chat(1), alert(2)]
    assert outbox.dropped == {"reading": 1, "hourly": 1}
    # Dropping starts: one line says so at once, not one line per event.
    assert len(caplog.records) == 1 and "outbox full (4)" in caplog.records[0].getMessage()


def test_alerts_and_revocations_are_dropped_only_when_nothing_else_is_left():
    outbox = Outbox(3)
    revocation = SessionsEnded(3, "you logged out", sessions=("s",))
    fill(outbox, [chat(1), alert(1), revocation])
    outbox.put(reading(1))  # less important than everything kept: the reading itself goes
    outbox.put(DeviceUnassigned(1, 2))  # the chat notice makes room
    assert outbox.dropped == {"reading": 1, "chat_unread": 1}
    outbox.put(alert(2))  # only vital events are left: the oldest of them goes
    assert outbox.take() == [revocation, DeviceUnassigned(1, 2), alert(2)]
    assert outbox.dropped == {"reading": 1, "chat_unread": 1, "alert_raised": 1}


def test_a_report_is_one_line_with_counts_by_kind_then_nothing_until_more_drops(caplog):
    outbox = Outbox(2)
    fill(outbox, [alert(1), alert(2), *(reading(ts) for ts in range(1000)), hourly(0)])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="energymon.broker.outbox"):
        outbox.report()
        outbox.report()
    [record] = caplog.records
    assert record.getMessage() == "events outbox dropped 1001 events: hourly=1, reading=1000"
    assert outbox.take() == [alert(1), alert(2)]


def test_a_flood_of_readings_keeps_the_alert_and_the_newest_readings():
    outbox = Outbox(1000)
    fill(outbox, [alert(1)])
    fill(outbox, [reading(ts) for ts in range(100_000)])
    kept = outbox.take()
    assert kept == [alert(1), *(reading(ts) for ts in range(100_000 - 999, 100_000))]
    assert outbox.dropped == {"reading": 100_000 - 999}
