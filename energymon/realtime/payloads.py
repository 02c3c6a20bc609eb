"""What the browser gets for each hub event: the REST `Out` models, plus what live pages need.

A socket payload is the REST representation of the same thing (an alert as `GET
/api/v1/alerts` shows it, a device as `GET /api/v1/devices`), so a page treats both alike;
the few extra fields are those live pages read (an alert's device description, the `hour`
and `acknowledged` names pages used before the REST names existed).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pydantic import Field

from energymon.api.alerts import alert_out
from energymon.api.reading_schemas import ReadingOut
from energymon.api.schemas import DeviceOut, Out
from energymon.events import (
    AlertRaised,
    AlertWithdrawn,
    DeviceAssigned,
    DeviceUnassigned,
    HourTotalChanged,
    ReadingStored,
)
from energymon.services.readings import mwh_to_kwh

_LOGGER = logging.getLogger(__name__)

Json = dict[str, Any]


def _utc(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class LiveReadingOut(ReadingOut):
    """`reading`: a reading as the readings API lists it, with its device."""

    device_id: int


class HourTotalOut(Out):
    """`hourly`: an hour's new total against the device's limit."""

    device_id: int
    hour: dt.datetime = Field(description="Start of the hour (UTC).")
    total_kwh: float
    limit_kwh: float
    over_limit: bool


class AlertWithdrawnOut(Out):
    """`alert_withdrawn`: the alert no longer holds."""

    id: int
    device_id: int
    hour: dt.datetime


class DeviceAssignedOut(Out):
    """`device_assigned`: the device as the devices API shows it to its new owner."""

    device: DeviceOut


class DeviceUnassignedOut(Out):
    """`device_unassigned`: the device is no longer the recipient's."""

    device_id: int


def reading(event: ReadingStored) -> Json:
    r = event.reading
    return LiveReadingOut(
        device_id=r.device_id,
        ts=_utc(r.ts),
        value_kwh=mwh_to_kwh(r.value_mwh),
        consumption_kwh=mwh_to_kwh(r.consumption_mwh),
    ).model_dump(mode="json")


def hourly(event: HourTotalChanged) -> Json:
    return HourTotalOut(
        device_id=event.device_id,
        hour=_utc(event.hour_ts),
        total_kwh=mwh_to_kwh(event.total_mwh),
        limit_kwh=event.limit_wh / 1000,
        over_limit=event.over_limit,
    ).model_dump(mode="json")


def alert(event: AlertRaised) -> Json:
    """The alert as `GET /api/v1/alerts` lists it, with what live pages read besides."""
    data = alert_out(event.alert).model_dump(mode="json")
    data["device_description"] = event.device_description
    data["hour"] = data["hour_start"]  # the name pages used before the REST one
    data["acknowledged"] = data["acknowledged_at"] is not None
    return data


def alert_withdrawn(event: AlertWithdrawn) -> Json:
    a = event.alert
    return AlertWithdrawnOut(id=a.id, device_id=a.device_id, hour=_utc(a.hour_ts)).model_dump(
        mode="json"
    )


def device_assigned(event: DeviceAssigned) -> Json:
    return DeviceAssignedOut(device=DeviceOut.of(event.device)).model_dump(mode="json")


def device_unassigned(event: DeviceUnassigned) -> Json:
    return DeviceUnassignedOut(device_id=event.device_id).model_dump(mode="json")
