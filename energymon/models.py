"""Plain domain records passed between storage, services and transports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

# interval: each reading is the energy since the previous one; cumulative: the register total.
MeterKind = Literal["interval", "cumulative"]


class Role(StrEnum):
    """The two account roles."""

    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    """An account."""

    id: int
    email: str
    name: str
    role: Role
    disabled: bool
    created_at: datetime
    password_hash: str = ""


@dataclass(frozen=True, slots=True)
class Device:
    """A meter or IoT device; `owner_id` None means an orphan."""

    id: int
    description: str
    address: str
    max_hourly_wh: int
    owner_id: int | None
    created_at: datetime
    meter_kind: MeterKind = "interval"
    # When the current owner's assignment began, and whether it shows what came before.
    owner_since: datetime | None = None
    include_history: bool = False

    @property
    def visible_from(self) -> int:
        """The first second (Unix) of data the owner may see; 0 means all of it."""
        return owner_visible_from(
            int(self.owner_since.timestamp()) if self.owner_since else None, self.include_history
        )

    def audience(self, ts: int) -> int | None:
        """Who besides the admins may hear of data at `ts` (a reading, or an hour's start):
        the owner when it lies within their assignment period, else nobody."""
        return self.owner_id if ts >= self.visible_from else None


@dataclass(frozen=True, slots=True)
class Reading:
    """A well-formed reading: device, whole Unix second, value in mWh."""

    device_id: int
    ts: int
    value_mwh: int

    @property
    def hour_ts(self) -> int:
        # A reading exactly at hh:00:00 opens the new hour.
        return self.ts - self.ts % 3600


@dataclass(frozen=True, slots=True)
class StoredReading(Reading):
    """A reading as stored, with the consumption it stands for (mWh): the value itself on an
    interval meter, the rise since the reading before on a cumulative one."""

    consumption_mwh: int


@dataclass(frozen=True, slots=True)
class Alert:
    """A device over its limit (or projected to be) in one hour."""

    id: int
    device_id: int
    hour_ts: int
    kind: str
    value: int
    limit_wh: int
    late: bool
    created_at: datetime
    acknowledged_at: datetime | None
    # The device's owner when the alert's hour starts within their assignment period; None
    # otherwise (only admins see it then).
    owner_id: int | None = None


# An owner without an assignment period sees nothing: no row would say since when.
NOTHING_VISIBLE = 2**62


def owner_visible_from(started_ts: int | None, include_history: bool) -> int:
    """The first second (Unix) of a device's data its owner may see; 0 means all of it."""
    if include_history:
        return 0
    return NOTHING_VISIBLE if started_ts is None else started_ts


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as established from a verified token and the current account row."""

    user_id: int
    email: str
    role: Role
    name: str = ""
    # The session the token belongs to (None for the command line and the demo seed).
    session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A stored chat message; `user_id` is its conversation, `side` who wrote it."""

    id: int
    user_id: int
    sender_id: int | None
    sender_name: str
    side: Role
    text: str
    created_ms: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A user's conversation with the admins, as one side sees it."""

    user_id: int
    user_name: str
    user_email: str
    unread: int
    latest: ChatMessage | None
    user_read_id: int
    admin_read_id: int
