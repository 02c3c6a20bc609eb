"""Events <-> the JSON bodies of the events exchange: the broker's one renderer.

A body is a JSON array of events, each `{"v", "kind", "payload", "device_id", "owner_id",
"extra"}`; `v` is the wire version (`VERSION`). Version 1 is the shape energymon always sent
(the README documents it for other programs) plus the `v` field, which releases before it
ignore: processes of two releases read each other's messages during a rolling upgrade. An
event without `v` comes from such a release and is read as version 1. An event of another
version or an unknown kind is skipped with a log line, never a failure: a newer release may
send what this one does not know yet.

Messages come from the network: every field is checked for its type and bounded before it
becomes a model, and a malformed event is skipped like an unknown one.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from energymon.events import (
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
from energymon.models import Alert, ChatMessage, Device, MeterKind, Role, StoredReading
from energymon.services.alerts import HOURLY_LIMIT
from energymon.services.readings import MWH_PER_KWH

_LOGGER = logging.getLogger(__name__)

VERSION = 1
# Database integers: anything larger names nothing and is refused.
MAX_INT = 2**63 - 1
# Longer than any text energymon stores (chat text is at most 4096 bytes of UTF-8).
MAX_TEXT = 8192
# Session ids listed in one sessions_ended event.
MAX_SESSIONS = 10_000

Json = dict[str, Any]


class Malformed(ValueError):
    """An event on the wire that does not hold what its kind needs."""


# ---- encoding ------------------------------------------------------------------------------


def rfc3339(ts: float) -> str:
    """Unix seconds as the wire's RFC 3339 UTC time (whole seconds, ending in Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def rfc3339_ms(ms: int) -> str:
    """Unix milliseconds as RFC 3339 UTC with milliseconds (chat times)."""
    stamp = datetime.fromtimestamp(ms / 1000, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _kwh(mwh: int) -> float:
    return mwh / MWH_PER_KWH


def _alert(alert: Alert, description: str) -> Json:
    hourly = alert.kind == HOURLY_LIMIT
    return {
        "id": alert.id,
        "device_id": alert.device_id,
        "device_description": description,
        "kind": alert.kind,
        "hour": rfc3339(alert.hour_ts),
        "total_kwh": _kwh(alert.value) if hourly else None,
        "power_kw": None if hourly else _kwh(alert.value),
        "limit_kwh": alert.limit_wh / 1000,
        "late": alert.late,
        "created_at": rfc3339(alert.created_at.timestamp()),
        "acknowledged": alert.acknowledged_at is not None,
    }


def _device(device: Device) -> Json:
    return {
        "id": device.id,
        "description": device.description,
        "address": device.address,
        "max_hourly_kwh": device.max_hourly_wh / 1000,
        "meter_kind": device.meter_kind,
        "owner_id": device.owner_id,
        "owner_since": rfc3339(device.owner_since.timestamp()) if device.owner_since else None,
        "include_history": device.include_history,
        "created_at": rfc3339(device.created_at.timestamp()),
    }


def _message(message: ChatMessage) -> Json:
    return {
        "id": message.id,
        "user_id": message.user_id,
        "sender_id": message.sender_id,
        "sender_name": message.sender_name,
        "sender_role": message.side.value,
        "text": message.text,
        "created_at": rfc3339_ms(message.created_ms),
    }


def _item(
    event: Event,
    payload: Json,
    device_id: int | None = None,
    owner_id: int | None = None,
    extra: Json | None = None,
) -> Json:
    return {
        "v": VERSION,
        "kind": event.kind,
        "payload": payload,
        "device_id": device_id,
        "owner_id": owner_id,
        "extra": extra or {},
    }


def encode_event(event: Event) -> Json:
    """One event as a JSON-ready object of the current version."""
    match event:
        case ReadingStored(reading=r, owner_id=owner):
            payload = {
                "device_id": r.device_id,
                "ts": rfc3339(r.ts),
                "value_kwh": _kwh(r.value_mwh),
                "consumption_kwh": _kwh(r.consumption_mwh),
            }
            return _item(event, payload, r.device_id, owner)
        case HourTotalChanged():
            payload = {
                "device_id": event.device_id,
                "hour": rfc3339(event.hour_ts),
                "total_kwh": _kwh(event.total_mwh),
                "limit_kwh": event.limit_wh / 1000,
                "over_limit": event.over_limit,
            }
            return _item(event, payload, event.device_id, event.owner_id)
        case AlertRaised(alert=alert, device_description=description):
            return _item(event, _alert(alert, description), alert.device_id, alert.owner_id)
        case AlertWithdrawn(alert=alert):
            return _item(event, _alert(alert, ""), alert.device_id, alert.owner_id)
        case DeviceAssigned(device=device, previous_owner_id=previous):
            payload = {"device": _device(device)}
            extra = {"previous_owner_id": previous}
            return _item(event, payload, device.id, device.owner_id, extra)
        case DeviceUnassigned(device_id=device_id, owner_id=owner, new_owner_id=new):
            payload = {"device_id": device_id}
            return _item(event, payload, device_id, owner, {"new_owner_id": new})
        case UserDisabled() | UserDeleted() | UserDemoted():
            return _item(event, {"user_id": event.user_id}, owner_id=event.user_id)
        case SessionsEnded():
            payload = {
                "user_id": event.user_id,
                "sessions": list(event.sessions) if event.sessions is not None else None,
                "keep": event.keep,
                "reason": event.reason,
            }
            return _item(event, payload, owner_id=event.user_id)
        case ChatMessagePosted(conversation_id=cid, message=message):
            return _item(event, {"conversation_id": cid, "message": _message(message)})
        case ChatTyping():
            payload = {
                "conversation_id": event.conversation_id,
                "sender_id": event.sender_id,
                "sender_name": event.sender_name,
                "sender_role": event.sender_role.value,
                "typing": event.typing,
            }
            return _item(event, payload)
        case ChatRead():
            payload = {
                "conversation_id": event.conversation_id,
                "reader_id": event.reader_id,
                "reader_role": event.reader_role.value,
                "message_id": event.message_id,
            }
            return _item(event, payload)
        case ChatUnread():
            payload = {
                "conversation_id": event.conversation_id,
                "side": event.side.value,
                "unread": event.unread,
            }
            return _item(event, payload)
    raise TypeError(f"no wire format for {type(event).__name__}")


def encode(events: Iterable[Event]) -> bytes:
    """One message body: the events, in order."""
    return json.dumps([encode_event(e) for e in events], separators=(",", ":")).encode()


# ---- decoding ------------------------------------------------------------------------------


def _int(data: Json, name: str, *, low: int = 0) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
        raise Malformed(f"{name}: not an integer in range")
    return value


def _opt_int(data: Json, name: str) -> int | None:
    return None if data.get(name) is None else _int(data, name)


def _str(data: Json, name: str, limit: int = MAX_TEXT) -> str:
    value = data.get(name)
    if not isinstance(value, str) or len(value) > limit:
        raise Malformed(f"{name}: not a string of at most {limit} characters")
    return value


def _opt_str(data: Json, name: str) -> str | None:
    return None if data.get(name) is None else _str(data, name)


def _bool(data: Json, name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise Malformed(f"{name}: not true or false")
    return value


def _meter_kind(data: Json, name: str) -> MeterKind:
    value = data.get(name)
    if value == "interval":
        return "interval"
    if value == "cumulative":
        return "cumulative"
    raise Malformed(f"{name}: not interval or cumulative")


def _obj(data: Json, name: str) -> Json:
    value = data.get(name)
    if not isinstance(value, dict):
        raise Malformed(f"{name}: not an object")
    return value


def _scaled(data: Json, name: str, factor: int) -> int:
    """A number of kWh (or kW) on the wire as an integer count of its `factor`-th parts."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"{name}: not a number")
    if not 0 <= abs(value) <= MAX_INT / factor:
        raise Malformed(f"{name}: out of range")
    return round(value * factor)


def _when(data: Json, name: str) -> datetime:
    text = _str(data, name, 40)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed(f"{name}: not an RFC 3339 time") from None
    if stamp.tzinfo is None:
        raise Malformed(f"{name}: a time without an offset")
    return stamp.astimezone(UTC)


def _seconds(data: Json, name: str) -> int:
    return int(_when(data, name).timestamp())


def _role(data: Json, name: str) -> Role:
    try:
        return Role(_str(data, name, 16))
    except ValueError:
        raise Malformed(f"{name}: not a role") from None


def _decode_alert(item: Json, payload: Json) -> tuple[Alert, str]:
    kind = _str(payload, "kind", 32)
    hourly = kind == HOURLY_LIMIT
    created = _when(payload, "created_at")
    alert = Alert(
        id=_int(payload, "id"),
        device_id=_int(payload, "device_id"),
        hour_ts=_seconds(payload, "hour"),
        kind=kind,
        value=_scaled(payload, "total_kwh" if hourly else "power_kw", MWH_PER_KWH),
        limit_wh=_scaled(payload, "limit_kwh", 1000),
        late=_bool(payload, "late"),
        created_at=created,
        # The wire tells only whether it was: an alert is announced when it is raised.
        acknowledged_at=created if payload.get("acknowledged") is True else None,
        owner_id=_opt_int(item, "owner_id"),
    )
    return alert, _str(
        payload, "device_description", 4096
    ) if "device_description" in payload else ""


def _decode_device(data: Json) -> Device:
    owner_since = None if data.get("owner_since") is None else _when(data, "owner_since")
    return Device(
        id=_int(data, "id"),
        description=_str(data, "description"),
        address=_str(data, "address"),
        max_hourly_wh=_scaled(data, "max_hourly_kwh", 1000),
        owner_id=_opt_int(data, "owner_id"),
        created_at=_when(data, "created_at"),
        meter_kind=_meter_kind(data, "meter_kind"),
        owner_since=owner_since,
        include_history=_bool(data, "include_history"),
    )


def _decode_message(data: Json) -> ChatMessage:
    created = _when(data, "created_at")
    return ChatMessage(
        id=_int(data, "id"),
        user_id=_int(data, "user_id"),
        sender_id=_opt_int(data, "sender_id"),
        sender_name=_str(data, "sender_name"),
        side=_role(data, "sender_role"),
        text=_str(data, "text"),
        created_ms=round(created.timestamp() * 1000),
    )


def _sessions(payload: Json) -> tuple[str, ...] | None:
    value = payload.get("sessions")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_SESSIONS:
        raise Malformed("sessions: not a list of session ids")
    if not all(isinstance(s, str) and len(s) <= 256 for s in value):
        raise Malformed("sessions: not a list of session ids")
    return tuple(value)


def _reading(item: Json, p: Json) -> Event:
    reading = StoredReading(
        device_id=_int(p, "device_id"),
        ts=_seconds(p, "ts"),
        value_mwh=_scaled(p, "value_kwh", MWH_PER_KWH),
        consumption_mwh=_scaled(p, "consumption_kwh", MWH_PER_KWH),
    )
    return ReadingStored(reading, _opt_int(item, "owner_id"))


def _hourly(item: Json, p: Json) -> Event:
    return HourTotalChanged(
        device_id=_int(p, "device_id"),
        hour_ts=_seconds(p, "hour"),
        total_mwh=_scaled(p, "total_kwh", MWH_PER_KWH),
        limit_wh=_scaled(p, "limit_kwh", 1000),
        over_limit=_bool(p, "over_limit"),
        owner_id=_opt_int(item, "owner_id"),
    )


def _alert_raised(item: Json, p: Json) -> Event:
    return AlertRaised(*_decode_alert(item, p))


def _alert_withdrawn(item: Json, p: Json) -> Event:
    return AlertWithdrawn(_decode_alert(item, p)[0])


def _assigned(item: Json, p: Json) -> Event:
    extra = item.get("extra") if isinstance(item.get("extra"), dict) else {}
    return DeviceAssigned(
        _decode_device(_obj(p, "device")), _opt_int(extra or {}, "previous_owner_id")
    )


def _unassigned(item: Json, p: Json) -> Event:
    extra = item.get("extra") if isinstance(item.get("extra"), dict) else {}
    return DeviceUnassigned(
        _int(p, "device_id"), _int(item, "owner_id"), _opt_int(extra or {}, "new_owner_id")
    )


def _user(kind: type[UserDisabled | UserDeleted | UserDemoted]) -> Callable[[Json, Json], Event]:
    return lambda item, p: kind(_int(p, "user_id"))


def _sessions_ended(item: Json, p: Json) -> Event:
    return SessionsEnded(
        user_id=_int(p, "user_id"),
        reason=_opt_str(p, "reason") or "your session ended",
        sessions=_sessions(p),
        keep=_opt_str(p, "keep"),
    )


def _chat_message(item: Json, p: Json) -> Event:
    return ChatMessagePosted(_int(p, "conversation_id"), _decode_message(_obj(p, "message")))


def _chat_typing(item: Json, p: Json) -> Event:
    return ChatTyping(
        conversation_id=_int(p, "conversation_id"),
        sender_id=_int(p, "sender_id"),
        sender_name=_str(p, "sender_name"),
        sender_role=_role(p, "sender_role"),
        typing=_bool(p, "typing"),
    )


def _chat_read(item: Json, p: Json) -> Event:
    return ChatRead(
        conversation_id=_int(p, "conversation_id"),
        reader_id=_int(p, "reader_id"),
        reader_role=_role(p, "reader_role"),
        message_id=_int(p, "message_id"),
    )


def _chat_unread(item: Json, p: Json) -> Event:
    return ChatUnread(
        conversation_id=_int(p, "conversation_id"),
        side=_role(p, "side"),
        unread=_int(p, "unread"),
    )


_DECODERS: dict[str, Callable[[Json, Json], Event]] = {
    ReadingStored.kind: _reading,
    HourTotalChanged.kind: _hourly,
    AlertRaised.kind: _alert_raised,
    AlertWithdrawn.kind: _alert_withdrawn,
    DeviceAssigned.kind: _assigned,
    DeviceUnassigned.kind: _unassigned,
    UserDisabled.kind: _user(UserDisabled),
    UserDeleted.kind: _user(UserDeleted),
    UserDemoted.kind: _user(UserDemoted),
    SessionsEnded.kind: _sessions_ended,
    ChatMessagePosted.kind: _chat_message,
    ChatTyping.kind: _chat_typing,
    ChatRead.kind: _chat_read,
    ChatUnread.kind: _chat_unread,
}


def decode_event(item: Any) -> Event:
    """One event of the wire; Malformed (a ValueError) for anything else, unknown versions
    and kinds included."""
    if not isinstance(item, dict):
        raise Malformed("not an object")
    version = item.get("v", 1)  # none: a release from before the field, version 1
    if version != VERSION or isinstance(version, bool):
        raise Malformed(f"version {str(version)[:20]!r} unknown")
    kind = item.get("kind")
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise Malformed(f"kind {str(kind)[:40]!r} unknown")
    try:
        return decoder(item, _obj(item, "payload"))
    except (TypeError, OverflowError) as exc:
        raise Malformed(f"{kind}: {exc}") from None
    except Malformed as exc:
        raise Malformed(f"{kind}: {exc}") from None


def decode(body: bytes, source: str = "") -> list[Event]:
    """The events of one message body that this release knows; each one it skips (a newer
    version, an unknown kind, malformed) costs a log line, never the rest of the message."""
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        _LOGGER.warning("ignored an events message that is not JSON (%s)", source)
        return []
    if not isinstance(items, list):
        _LOGGER.warning("ignored an events message that is not a JSON array (%s)", source)
        return []
    events: list[Event] = []
    skipped: Counter[str] = Counter()
    for item in items:
        try:
            events.append(decode_event(item))
        except Malformed as exc:
            skipped[str(exc)] += 1
    if skipped:
        # One line a message: a newer release may send thousands of readings in one.
        _LOGGER.warning(
            "skipped %d of %d events (%s): %s",
            skipped.total(),
            len(items),
            source,
            ", ".join(f"{reason} x{count}" for reason, count in skipped.most_common(5)),
        )
    return events
