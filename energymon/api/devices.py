"""Devices: admins manage and assign them, users read their own."""

from __future__ import annotations

from energymon import keys
from energymon.api.router import ApiRouter, Call, Reply
from energymon.api.schemas import (
    AssignIn,
    DeviceCreate,
    DeviceListQuery,
    DeviceOut,
    DevicePage,
    DeviceUpdate,
    kwh_to_wh,
)

router = ApiRouter()
TAG = "devices"


@router.route(
    "GET",
    "/api/v1/devices",
    summary="List devices",
    tag=TAG,
    auth="user",
    query=DeviceListQuery,
    response=DevicePage,
)
async def list_devices(call: Call[DeviceListQuery]) -> DevicePage:
    """A user gets their own devices. An admin gets every device, or one owner's
    (`owner_id`), or the orphans (`orphans=true`)."""
    q = call.query
    limit = q.capped_limit()
    devices, total = await call.app[keys.DEVICES].list(
        call.me, owner_id=q.owner_id, orphans=q.orphans, limit=limit, offset=q.offset
    )
    return DevicePage(
        items=[DeviceOut.of(d) for d in devices], total=total, limit=limit, offset=q.offset
    )


@router.route(
    "POST",
    "/api/v1/devices",
    summary="Create a device",
    tag=TAG,
    auth="admin",
    body=DeviceCreate,
    response=DeviceOut,
    status=201,
    errors=(404,),
)
async def create_device(call: Call[None, DeviceCreate]) -> DeviceOut:
    """Create a device, optionally assigned to a user at once (404 if that user is missing)."""
    b = call.body
    device = await call.app[keys.DEVICES].create(
        call.me,
        description=b.description,
        address=b.address,
        max_hourly_wh=kwh_to_wh(b.max_hourly_kwh),
        meter_kind=b.meter_kind,
        owner_id=b.owner_id,
    )
    return DeviceOut.of(device)


@router.route(
    "GET",
    "/api/v1/devices/{device_id}",
    summary="Get a device",
    tag=TAG,
    auth="user",
    response=DeviceOut,
)
async def get_device(call: Call) -> DeviceOut:
    """A device's details. A user asking for a device that is not theirs gets 404."""
    return DeviceOut.of(await call.app[keys.DEVICES].get(call.me, call.path["device_id"]))


@router.route(
    "PATCH",
    "/api/v1/devices/{device_id}",
    summary="Update a device",
    tag=TAG,
    auth="admin",
    body=DeviceUpdate,
    response=DeviceOut,
)
async def update_device(call: Call[None, DeviceUpdate]) -> DeviceOut:
    """Change the description, address or maximum hourly consumption."""
    changes = call.body.model_dump(exclude_unset=True)
    if "max_hourly_kwh" in changes:
        changes["max_hourly_wh"] = kwh_to_wh(changes.pop("max_hourly_kwh"))
    device = await call.app[keys.DEVICES].update(call.me, call.path["device_id"], changes)
    return DeviceOut.of(device)


@router.route(
    "DELETE",
    "/api/v1/devices/{device_id}",
    summary="Delete a device",
    tag=TAG,
    auth="admin",
    status=204,
)
async def delete_device(call: Call) -> Reply:
    """Delete the device."""
    await call.app[keys.DEVICES].delete(call.me, call.path["device_id"])
    return Reply(204)


@router.route(
    "PUT",
    "/api/v1/devices/{device_id}/owner",
    summary="Assign a device to a user",
    tag=TAG,
    auth="admin",
    body=AssignIn,
    response=DeviceOut,
)
async def assign_device(call: Call[None, AssignIn]) -> DeviceOut:
    """Make `user_id` the device's owner (replacing any previous owner). The owner sees the
    device's readings, totals and alerts from this moment on, or all of them with
    `include_history`; the previous owner no longer sees any."""
    b = call.body
    device = await call.app[keys.DEVICES].assign(
        call.me, call.path["device_id"], b.user_id, include_history=b.include_history
    )
    return DeviceOut.of(device)


@router.route(
    "DELETE",
    "/api/v1/devices/{device_id}/owner",
    summary="Unassign a device",
    tag=TAG,
    auth="admin",
    response=DeviceOut,
)
async def unassign_device(call: Call) -> DeviceOut:
    """Remove the device's owner; it becomes an orphan."""
    return DeviceOut.of(await call.app[keys.DEVICES].unassign(call.me, call.path["device_id"]))
