"""Request and response bodies of the REST API; the OpenAPI document is generated from them."""

from __future__ import annotations

import re
import types
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from energymon.errors import Location
from energymon.models import Device, Role, User

MAX_ID = 2**63 - 1
PAGE_MAX = 100

# Whitespace, spelled out for the patterns below. `\s` means three different things here:
# pydantic (Rust regex) takes Unicode White_Space, JSON Schema validators take ECMA-262's set
# (which adds U+FEFF) and Python's str.strip, used when storing, also strips U+001C..U+001F.
# With the union spelled out the document and the server agree on every character, and text
# that passes "has a visible character" never strips down to nothing.
SPACE = (
    r"\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_EMAIL_PART = rf"[^@{SPACE}]+"
_VISIBLE = rf"[^{SPACE}]"

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$",
        description="Compared case-insensitively; stored in lower case.",
        examples=["ada@example.com"],
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=8,
        max_length=1024,
        description="8 to 1,024 characters, not one of the most common passwords nor the "
        "account's email; long passphrases keep their full strength.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=_VISIBLE)]
Description = Annotated[str, Field(min_length=1, max_length=200, pattern=_VISIBLE)]
Address = Annotated[str, Field(max_length=300)]
Kwh = Annotated[
    float,
    Field(
        ge=0.001,
        le=1_000_000,
        description="Maximum hourly consumption in kWh, kept to the nearest Wh.",
    ),
]


MeterKind = Annotated[
    Literal["interval", "cumulative"],
    Field(
        description="interval: each reading is the energy since the previous one; "
        "cumulative: each reading is the register total."
    ),
]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(**kwargs: Any) -> Any:
    """A field that may be left out (but not sent as null)."""
    return Field(None, json_schema_extra=_no_default, **kwargs)


# What JSON Schema's `date` and `date-time` formats accept (RFC 3339, the time with an offset).
_RFC3339 = {
    date: re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    datetime: re.compile(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
    ),
}
_RFC3339_EXAMPLE = {date: "2024-05-31", datetime: "2024-05-31T22:00:00Z"}


def _temporal_type(annotation: Any) -> type[date] | None:
    """`date` or `datetime` when a field holds one (optionally or None), else None."""
    if get_origin(annotation) in (Union, types.UnionType):
        found = {_temporal_type(arg) for arg in get_args(annotation)} - {None}
        return found.pop() if len(found) == 1 else None
    if get_origin(annotation) is Annotated:
        return _temporal_type(get_args(annotation)[0])
    for kind in (datetime, date):
        if isinstance(annotation, type) and issubclass(annotation, kind):
            return kind
    return None


class _Input(BaseModel):
    """Input read from the wire.

    Dates and times must be written as the document says (RFC 3339): pydantic would also take
    Unix seconds ("0" is 1970-01-01) and times without an offset, and so read a typo as a date.
    """

    @field_validator("*", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None or not isinstance(value, str):
            return value
        kind = _temporal_type(cls.model_fields[info.field_name].annotation)
        if kind is not None and not _RFC3339[kind].fullmatch(value):
            what = "date" if kind is date else "date and time with an offset"
            raise ValueError(f"must be an RFC 3339 {what}, such as {_RFC3339_EXAMPLE[kind]}")
        return value


class Body(_Input):
    """A request body: unknown fields are rejected, so a typo never passes silently.

    Bodies are validated as JSON, strictly (see router): a string is never read as a number
    or a boolean, just as the document's schemas say.
    """

    model_config = ConfigDict(extra="forbid")


class Query(_Input):
    """Query parameters: unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore")


class Out(BaseModel):
    """A response body."""


# ---- requests ------------------------------------------------------------------------------


class RegisterIn(Body):
    email: Email
    password: Password
    name: Name


class LoginIn(Body):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=1024)]


class PasswordChangeIn(Body):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


class UserCreate(Body):
    email: Email
    password: Password
    name: Name
    role: Role = Role.USER
    disabled: bool = False


class UserUpdate(Body):
    email: Email = optional()
    name: Name = optional()
    role: Role = optional()
    disabled: bool = optional()
    password: Password = optional()


class DeviceCreate(Body):
    description: Description
    address: Address = ""
    max_hourly_kwh: Kwh
    meter_kind: MeterKind = "interval"
    owner_id: Id | None = Field(None, description="The owner; leave out or null for an orphan.")


class DeviceUpdate(Body):
    description: Description = optional()
    address: Address = optional()
    max_hourly_kwh: Kwh = optional()
    meter_kind: MeterKind = optional()


class AssignIn(Body):
    user_id: Id
    include_history: bool = Field(
        False,
        description="Let the owner see the device's data from before this assignment too "
        "(by default they see it from the moment of assignment).",
    )


class PageQuery(Query):
    limit: int = Field(
        50, ge=1, description=f"Page size; values above {PAGE_MAX} count as {PAGE_MAX}."
    )
    offset: int = Field(0, ge=0, le=2**62)

    def capped_limit(self) -> int:
        return min(self.limit, PAGE_MAX)


class UserListQuery(PageQuery):
    q: str | None = Field(None, max_length=254, description="Part of the email address.")


class DeviceListQuery(PageQuery):
    owner_id: Id | None = Field(None, description="Admins: only this user's devices.")
    orphans: bool = Field(False, description="Admins: only devices with no owner.")


# ---- responses -----------------------------------------------------------------------------


class UserOut(Out):
    id: int
    email: str
    name: str
    role: Role
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            disabled=user.disabled,
            created_at=user.created_at,
        )


class DeviceOut(Out):
    id: int
    description: str
    address: str
    max_hourly_kwh: float
    meter_kind: MeterKind
    owner_id: int | None
    owner_since: datetime | None = Field(
        description="When the current owner's assignment began (null for an orphan)."
    )
    include_history: bool = Field(
        description="Whether the owner also sees the data from before `owner_since`."
    )
    created_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id,
            description=device.description,
            address=device.address,
            max_hourly_kwh=device.max_hourly_wh / 1000,
            meter_kind=device.meter_kind,
            owner_id=device.owner_id,
            owner_since=device.owner_since,
            include_history=device.include_history,
            created_at=device.created_at,
        )


class UserPage(Out):
    items: list[UserOut]
    total: int
    limit: int
    offset: int


class DevicePage(Out):
    items: list[DeviceOut]
    total: int
    limit: int
    offset: int


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
    user: UserOut


class Health(Out):
    status: Literal["ok", "unavailable"]
    detail: str | None = None


class ProblemField(Out):
    field: str = Field(description="The input's name: a body field (dotted) or a parameter.")
    location: Location
    detail: str


class Problem(Out):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None


def kwh_to_wh(kwh: float) -> int:
    return round(kwh * 1000)
