"""Request and response bodies for readings, consumption and alerts."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from energymon.api.schemas import MAX_ID, Id, Out, PageQuery, Query
from energymon.services.readings import MAX_READINGS

# Local days a consumption query may name: their midnights (in any zone, and the day after
# the last) must stay within what datetime and Unix seconds can hold.
FIRST_DAY = dt.date(1970, 1, 2)
LAST_DAY = dt.date(9998, 12, 31)


class ReadingIn(BaseModel):
    """One reading as a meter sends it. Each item is checked on its own and reported on."""

    model_config = ConfigDict(extra="allow")

    device_id: Any = Field(
        None, description="The device; may be left out (the token's device). Alias deviceId."
    )
    ts: Any = Field(None, description="RFC 3339 with an offset, or Unix seconds. Alias timestamp.")
    value: Any = Field(
        None,
        description="kWh: energy since the previous reading (interval meters) or the register "
        "total (cumulative meters). Alias measurement_value.",
    )


class IngestBody(RootModel[ReadingIn | Annotated[list[ReadingIn], Field(max_length=MAX_READINGS)]]):
    """One reading, or an array of up to 10,000. Documents the body: the route parses the raw
    bytes with the readings parser (services/readings.py), as the AMQP consumer does."""


class IngestItem(Out):
    index: int
    status: Literal["stored", "duplicate", "conflict", "rejected"]
    reason: str | None = None


class IngestResult(Out):
    stored: int
    duplicates: int
    conflicts: int
    rejected: int
    items: list[IngestItem]


class IngestTokenOut(Out):
    device_id: int
    token: str = Field(description="Shown once. Send it as `Authorization: Bearer <token>`.")


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def _zone(value: str) -> str:
    try:
        if value not in _zones():
            raise ZoneInfoNotFoundError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value[:60]!r} (use an IANA name such as Europe/Berlin)"
        ) from None
    return value


class ZoneQuery(Query):
    # The enum documents what _known_zone accepts, so the document and the server agree.
    tz: str = Field(
        "UTC",
        max_length=64,
        description="IANA time zone, e.g. Europe/Berlin.",
        json_schema_extra={"enum": [*sorted(_zones())]},
    )

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _zone(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


class HourlyQuery(ZoneQuery):
    date: dt.date = Field(
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="The local day, YYYY-MM-DD (1970-01-02 to 9998-12-31).",
    )


class DailyQuery(ZoneQuery):
    start: dt.date = Field(
        alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First local day, YYYY-MM-DD."
    )
    end: dt.date = Field(
        alias="to",
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="Last local day, YYYY-MM-DD (at most 366 days).",
    )


class ReadingsQuery(PageQuery):
    start: dt.datetime = Field(alias="from", description="RFC 3339 start (inclusive).")
    end: dt.datetime = Field(alias="to", description="RFC 3339 end (exclusive).")
    after: int | None = Field(
        None,
        ge=0,
        le=2**62,
        description="Cursor: the `ts` of the last reading of the previous page.",
    )


class HourOut(Out):
    start: dt.datetime = Field(description="Start of the hour, in the requested time zone.")
    kwh: float | None = Field(description="Null when no reading arrived in that hour.")
    readings: int
    over_limit: bool


class HourlyOut(Out):
    device_id: int
    date: dt.date
    tz: str
    limit_kwh: float
    hours: list[HourOut]


class DayOut(Out):
    date: dt.date
    kwh: float | None
    hours_with_data: int


class DailyOut(Out):
    device_id: int
    tz: str
    days: list[DayOut]


class ReadingOut(Out):
    ts: dt.datetime
    value_kwh: float = Field(description="As the meter sent it.")
    consumption_kwh: float = Field(description="The energy this reading accounts for.")


class ReadingPage(Out):
    device_id: int
    items: list[ReadingOut]
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null at the end."
    )


# Skipping costs a read of every row skipped; the cursor costs nothing, so deep pages use it.
MAX_ALERT_OFFSET = 10_000


def alert_cursor(hour_ts: int, alert_id: int) -> str:
    """The `after` value that continues the alert list past this alert."""
    return f"{hour_ts}-{alert_id}"


class AlertQuery(PageQuery):
    device_id: Id | None = None
    unacknowledged: bool = False
    offset: int = Field(
        0,
        ge=0,
        le=MAX_ALERT_OFFSET,
        description=f"Deprecated: skips this many (at most {MAX_ALERT_OFFSET:,}); page with "
        "`after` instead.",
    )
    after: str | None = Field(
        None,
        max_length=32,
        pattern=r"^[0-9]{1,12}-[0-9]{1,19}$",
        description="Cursor: the `next_after` of the previous page, as given.",
    )

    @field_validator("after")
    @classmethod
    def _cursor(cls, value: str | None) -> str | None:
        if value is not None and int(value.partition("-")[2]) > MAX_ID:
            raise ValueError("not a cursor this list handed out")
        return value

    @property
    def cursor(self) -> tuple[int, int] | None:
        """(hour_ts, id) of the alert the page starts after."""
        if self.after is None:
            return None
        hour_ts, _, alert_id = self.after.partition("-")
        return int(hour_ts), int(alert_id)


# Every kind of alert the rules raise (services/alerts.py).
AlertKind = Literal["hourly_limit", "peak_power"]


class AlertOut(Out):
    id: int
    device_id: int
    kind: AlertKind
    hour_start: dt.datetime
    total_kwh: float | None = Field(description="hourly_limit: the hour's total when it crossed.")
    power_kw: float | None = Field(description="peak_power: the average power measured.")
    limit_kwh: float
    late: bool = Field(description="Raised by a reading that arrived after its hour had ended.")
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None


class AlertPageOut(Out):
    items: list[AlertOut]
    next_after: str | None = Field(
        description="Pass as `after` for the next page; null at the end."
    )
    limit: int
    offset: int
