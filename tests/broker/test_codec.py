"""The events codec: every kind survives the wire; other versions, unknown kinds and hostile
bodies are skipped with a log line; the body of the release before the version field reads."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from energymon.broker import codec
from energymon.events import (
    KINDS,
    AlertRaised,
    AlertWithdrawn,
    ChatMessagePosted,
    ChatRead,
    ChatTyping,
    ChatUnread,
    DeviceAssigned,
    DeviceUnassigned,
    Event,
    HourTotalChanged,
    ReadingStored,
    SessionsEnded,
    UserDeleted,
    UserDemoted,
    UserDisabled,
)
from energymon.models import Alert, ChatMessage, Device, Role, StoredReading

HOUR = 1_763_614_800  # 2025-11-20T05:00:00Z
CREATED = datetime(2025, 11, 20, 5, 42, 7, tzinfo=UTC)
ALERT = Alert(9, 3, HOUR, "hourly_limit", 2_512_345, 2500, True, CREATED, None, owner_id=4)
PEAK = Alert(10, 3, HOUR, "peak_power", 7_000_001, 2500, False, CREATED, CREATED, owner_id=None)
DEVICE = Device(3, "Heat pump", "Cellar", 2500, 4, CREATED, "cumulative", CREATED, True)
MESSAGE = ChatMessage(11, 4, 1, "Ann", Role.ADMIN, "Hello \u2603 <b>", 1_763_617_327_042)

EVERY_KIND: list[Event] = [
    ReadingStored(StoredReading(3, HOUR + 61, 123_456_789, 1_234), owner_id=4),
    ReadingStored(StoredReading(3, HOUR + 62, 0, 0), owner_id=None),
    HourTotalChanged(3, HOUR, 2_512_345, 2500, True, owner_id=None),
    AlertRaised(ALERT, "Heat pump"),
    AlertRaised(PEAK, ""),
    AlertWithdrawn(ALERT),
    DeviceAssigned(DEVICE, previous_owner_id=2),
    DeviceAssigned(Device(5, "Orphan", "", 1000, 4, CREATED), previous_owner_id=None),
    DeviceUnassigned(3, 4, new_owner_id=None),
    UserDisabled(4),
    UserDeleted(4),
    UserDemoted(1),
    SessionsEnded(4, "you logged out", sessions=("abc",)),
    SessionsEnded(4, "your password changed", keep="def"),
    ChatMessagePosted.of(MESSAGE),
    ChatMessagePosted.of(ChatMessage(12, 4, None, "Bo", Role.USER, "x", 0)),
    ChatTyping(4, 1, "Ann", Role.ADMIN, True),
    ChatRead(4, 4, Role.USER, 11),
    ChatUnread(4, Role.ADMIN, 2),
]


def test_every_kind_is_covered_here():
    assert {type(e) for e in EVERY_KIND} == set(KINDS)


@pytest.mark.parametrize("event", EVERY_KIND, ids=lambda e: type(e).__name__)
def test_every_kind_round_trips(event: Event):
    assert codec.decode(codec.encode([event])) == [event]


def test_a_body_keeps_the_order_and_each_event_carries_the_version():
    body = codec.encode(EVERY_KIND)
    assert [item["v"] for item in json.loads(body)] == [codec.VERSION] * len(EVERY_KIND)
    assert codec.decode(body) == EVERY_KIND


def test_the_wire_shape_is_the_documented_one():
    """Other programs bind to the exchange and read these fields (README, Events)."""
    [item] = json.loads(codec.encode([AlertRaised(ALERT, "Heat pump")]))
    assert item == {
        "v": 1,
        "kind": "alert_raised",
        "device_id": 3,
        "owner_id": 4,
        "extra": {},
        "payload": {
            "id": 9,
            "device_id": 3,
            "device_description": "Heat pump",
            "kind": "hourly_limit",
            "hour": "2025-11-20T05:00:00Z",
            "total_kwh": 2.512345,
            "power_kw": None,
            "limit_kwh": 2.5,
            "late": True,
            "created_at": "2025-11-20T05:42:07Z",
            "acknowledged": False,
        },
    }


def test_a_message_of_the_release_before_the_version_field_reads():
    """That release sent no `v`: its processes and ours read each other during an upgrade."""
    body = json.dumps(
        [
            {
                "kind": "reading",
                "payload": {
                    "device_id": 3,
                    "ts": "2025-11-20T05:01:01Z",
                    "value_kwh": 123.456789,
                    "consumption_kwh": 0.001234,
                },
                "device_id": 3,
                "owner_id": 4,
                "extra": {},
            },
            {
                "kind": "device_unassigned",
                "payload": {"device_id": 3},
                "device_id": 3,
                "owner_id": 4,
                "extra": {"new_owner_id": 6},
            },
        ]
    ).encode()
    assert codec.decode(body) == [
        ReadingStored(StoredReading(3, HOUR + 61, 123_456_789, 1_234), owner_id=4),
        DeviceUnassigned(3, 4, new_owner_id=6),
    ]


def test_the_release_before_reads_what_this_one_sends():
    """It read `kind`, `payload`, `device_id`, `owner_id` and `extra`, and ignored the rest."""
    for item in json.loads(codec.encode(EVERY_KIND)):
        assert {"kind", "payload", "device_id", "owner_id", "extra"} <= set(item)
        assert isinstance(item["payload"], dict) and isinstance(item["extra"], dict)


def test_a_newer_version_and_unknown_kinds_are_skipped_with_one_log_line(caplog):
    known = json.loads(codec.encode([UserDeleted(4)]))[0]
    newer = {**known, "v": 2, "payload": {"user": {"id": 4}}}
    unknown = {**known, "kind": "user_promoted"}
    body = json.dumps([newer, known, unknown, newer]).encode()
    with caplog.at_level(logging.WARNING, logger="energymon.broker.codec"):
        assert codec.decode(body, "user.4.deleted") == [UserDeleted(4)]
    [record] = caplog.records
    assert "skipped 3 of 4 events (user.4.deleted)" in record.getMessage()
    assert "version '2' unknown x2" in record.getMessage()
    assert "user_promoted" in record.getMessage()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"{}",
        b"null",
        b"[1, null, []]",
        b'[{"v": true, "kind": "user_deleted", "payload": {"user_id": 1}}]',
        b'[{"kind": "user_deleted", "payload": {"user_id": "1"}}]',
        b'[{"kind": "user_deleted", "payload": {"user_id": 99999999999999999999999}}]',
        b'[{"kind": "user_deleted", "payload": {"user_id": -1}}]',
        b'[{"kind": "user_deleted", "payload": []}]',
        b'[{"kind": "reading", "payload": {"device_id": 1, "ts": "yesterday", '
        b'"value_kwh": 1, "consumption_kwh": 1}}]',
        b'[{"kind": "reading", "payload": {"device_id": 1, "ts": "2025-11-20T05:01:01", '
        b'"value_kwh": 1, "consumption_kwh": 1}}]',
        b'[{"kind": "reading", "payload": {"device_id": 1, "ts": "2025-11-20T05:01:01Z", '
        b'"value_kwh": 1e308, "consumption_kwh": 1}}]',
        b'[{"kind": "reading", "payload": {"device_id": 1, "ts": "2025-11-20T05:01:01Z", '
        b'"value_kwh": NaN, "consumption_kwh": 1}}]',
        b'[{"kind": "chat_unread", "payload": {"conversation_id": 1, "side": "root", '
        b'"unread": 1}}]',
        b'[{"kind": "user_sessions_ended", "payload": {"user_id": 1, "sessions": [1]}}]',
        b'[{"kind": "chat_typing", "payload": {"conversation_id": 1, "sender_id": 1, '
        b'"sender_name": "' + b"x" * 10_000 + b'", "sender_role": "user", "typing": true}}]',
        b'[{"kind": "device_assigned", "payload": {"device": {"id": 1}}}]',
    ],
)
def test_hostile_bodies_are_skipped_not_raised(body: bytes):
    assert codec.decode(body) == []
