"""Consumption out: hourly for a day, daily over a range, raw readings; JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime

from energymon import keys
from energymon.api.reading_schemas import (
    DailyOut,
    DailyQuery,
    DayOut,
    HourlyOut,
    HourlyQuery,
    HourOut,
    ReadingOut,
    ReadingPage,
    ReadingsQuery,
)
from energymon.api.router import ApiRouter, Call, Reply
from energymon.errors import FieldError, Invalid
from energymon.services.alerts import over_hourly_limit
from energymon.services.consumption import MAX_DAYS
from energymon.services.readings import mwh_to_kwh

router = ApiRouter()
TAG = "consumption"
MAX_EXPORT_ROWS = 100_000
BASE = "/api/v1/devices/{device_id}"


def _csv(
    header: list[str], pages: AsyncIterator[Iterable[Sequence[object]]], filename: str
) -> Reply:
    """A CSV download sent page by page as the rows are read, never built whole."""

    async def chunks() -> AsyncIterator[str]:
        yield _csv_text([header])
        async for rows in pages:
            yield _csv_text(rows)

    return Reply(
        200,
        chunks=chunks(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_text(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


async def _one_page(rows: list[Sequence[object]]) -> AsyncIterator[list[Sequence[object]]]:
    yield rows


async def _hourly(call: Call[HourlyQuery]) -> HourlyOut:
    q = call.query
    device, hours = await call.app[keys.CONSUMPTION].hourly(
        call.me, call.path["device_id"], q.date, q.zone
    )
    return HourlyOut(
        device_id=device.id,
        date=q.date,
        tz=q.tz,
        limit_kwh=device.max_hourly_wh / 1000,
        hours=[
            HourOut(
                start=h.start,
                kwh=None if h.total_mwh is None else mwh_to_kwh(h.total_mwh),
                readings=h.readings,
                over_limit=over_hourly_limit(h.total_mwh, device.max_hourly_wh),
            )
            for h in hours
        ],
    )


@router.route(
    "GET",
    f"{BASE}/consumption/hourly",
    summary="Hour by hour for one local day",
    tag=TAG,
    auth="user",
    query=HourlyQuery,
    response=HourlyOut,
)
async def hourly_consumption(call: Call[HourlyQuery]) -> HourlyOut:
    """Every hour of the local day (23 or 25 on daylight-saving change days), with kWh,
    reading count and whether it went over the device's current limit. Hours without data
    have `kwh: null`, not zero."""
    return await _hourly(call)


@router.route(
    "GET",
    f"{BASE}/consumption/hourly.csv",
    summary="Hourly consumption as CSV",
    tag=TAG,
    auth="user",
    query=HourlyQuery,
    media_type="text/csv",
)
async def hourly_consumption_csv(call: Call[HourlyQuery]) -> Reply:
    """The same hours as CSV: hour_start,kwh,readings,over_limit (empty kwh: no data)."""
    result = await _hourly(call)
    rows: list[Sequence[object]] = [
        [h.start.isoformat(), "" if h.kwh is None else h.kwh, h.readings, str(h.over_limit).lower()]
        for h in result.hours
    ]
    filename = f"device-{result.device_id}-{result.date}-hourly.csv"
    return _csv(["hour_start", "kwh", "readings", "over_limit"], _one_page(rows), filename)


async def _daily(call: Call[DailyQuery]) -> DailyOut:
    q = call.query
    if q.end < q.start or (q.end - q.start).days >= MAX_DAYS:
        raise Invalid(
            f"`to` must be on or after `from`, at most {MAX_DAYS} days",
            [FieldError("to", "out of range", "query")],
        )
    device, days = await call.app[keys.CONSUMPTION].daily(
        call.me, call.path["device_id"], q.start, q.end, q.zone
    )
    return DailyOut(
        device_id=device.id,
        tz=q.tz,
        days=[
            DayOut(
                date=d.date,
                kwh=None if d.total_mwh is None else mwh_to_kwh(d.total_mwh),
                hours_with_data=d.hours_with_data,
            )
            for d in days
        ],
    )


@router.route(
    "GET",
    f"{BASE}/consumption/daily",
    summary="Daily totals over a range",
    tag=TAG,
    auth="user",
    query=DailyQuery,
    response=DailyOut,
)
async def daily_consumption(call: Call[DailyQuery]) -> DailyOut:
    """One total per local day from `from` to `to` inclusive; days without data are null."""
    return await _daily(call)


@router.route(
    "GET",
    f"{BASE}/consumption/daily.csv",
    summary="Daily totals as CSV",
    tag=TAG,
    auth="user",
    query=DailyQuery,
    media_type="text/csv",
)
async def daily_consumption_csv(call: Call[DailyQuery]) -> Reply:
    """The same days as CSV: date,kwh,hours_with_data."""
    result = await _daily(call)
    rows: list[Sequence[object]] = [
        [d.date.isoformat(), "" if d.kwh is None else d.kwh, d.hours_with_data] for d in result.days
    ]
    return _csv(
        ["date", "kwh", "hours_with_data"], _one_page(rows), f"device-{result.device_id}-daily.csv"
    )


def _bounds(q: ReadingsQuery) -> tuple[int, int]:
    errors = [
        FieldError(name, "needs a UTC offset", "query")
        for name, value in (("from", q.start), ("to", q.end))
        if value.tzinfo is None
    ]
    if errors:
        raise Invalid("timestamps need a UTC offset (such as Z)", errors)
    return int(q.start.timestamp()), int(q.end.timestamp())


async def _readings(call: Call[ReadingsQuery], limit: int) -> ReadingPage:
    q = call.query
    start, end = _bounds(q)
    device, rows = await call.app[keys.CONSUMPTION].readings(
        call.me, call.path["device_id"], start, end, after_ts=q.after, limit=limit
    )
    return ReadingPage(
        device_id=device.id,
        items=[
            ReadingOut(
                ts=datetime.fromtimestamp(r.ts, UTC),
                value_kwh=mwh_to_kwh(r.value_mwh),
                consumption_kwh=mwh_to_kwh(r.consumption_mwh),
            )
            for r in rows
        ],
        next_after=rows[-1].ts if len(rows) == limit else None,
    )


@router.route(
    "GET",
    f"{BASE}/readings",
    summary="Raw readings over a range",
    tag=TAG,
    auth="user",
    query=ReadingsQuery,
    response=ReadingPage,
)
async def list_readings(call: Call[ReadingsQuery]) -> ReadingPage:
    """Readings in [from, to) in time order, a page at a time (`after` = previous `next_after`)."""
    q = call.query
    return await _readings(call, q.capped_limit())


@router.route(
    "GET",
    f"{BASE}/readings.csv",
    summary="Raw readings as CSV",
    tag=TAG,
    auth="user",
    query=ReadingsQuery,
    media_type="text/csv",
)
async def readings_csv(call: Call[ReadingsQuery]) -> Reply:
    """Readings in [from, to) as CSV (ts,value_kwh,consumption_kwh), up to 100,000 rows,
    sent as they are read."""
    q = call.query
    start, end = _bounds(q)
    device, pages = await call.app[keys.CONSUMPTION].export(
        call.me, call.path["device_id"], start, end, limit=MAX_EXPORT_ROWS
    )

    async def rows() -> AsyncIterator[list[Sequence[object]]]:
        async for page in pages:
            yield [
                [
                    datetime.fromtimestamp(r.ts, UTC).isoformat(),
                    mwh_to_kwh(r.value_mwh),
                    mwh_to_kwh(r.consumption_mwh),
                ]
                for r in page
            ]

    return _csv(["ts", "value_kwh", "consumption_kwh"], rows(), f"device-{device.id}-readings.csv")
