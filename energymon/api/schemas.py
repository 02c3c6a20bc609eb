"""Request and response bodies of the REST API; the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from energymon.models import Device, Role, User

MAX_ID = 2**63 - 1
PAGE_MAX = 100

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Compared case-insensitively; stored in lower case.",
        examples=["ada@example.com"],
    ),
]
Password = Annotated[
    str,
    Field(
        min_length=8,
        max_length=1024,
        description="8 to 1,024 characters; long passphrases keep their full strength.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"\S")]
Description = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
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


class Body(BaseModel):
    """A request body: unknown fields are rejected, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
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
    created_at: datetime

    @classmethod
    def of(cls, device: Device) -> DeviceOut:
        return cls(
            id=device.id,
            description=device.description,
            address=device.address,
            max_hourly_kwh=device.max_hourly_wh / 1000,
            meter_kind=device.meter_kind,  # type: ignore[arg-type]
            owner_id=device.owner_id,
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
    location: Literal["body", "query", "path"]
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
