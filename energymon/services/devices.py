"""Devices: admins manage and assign them; users see only their own."""

from __future__ import annotations

from typing import Any

from energymon.errors import NotFound
from energymon.events import DeviceAssigned, DeviceUnassigned, EventHub
from energymon.models import Device, MeterKind, Principal
from energymon.services.access import require_admin
from energymon.storage import Database
from energymon.storage import devices as devices_store
from energymon.storage import users as users_store


def _not_found(device_id: int) -> NotFound:
    return NotFound(f"device {device_id} not found")


class DeviceService:
    """Device rules: a user sees their own devices, and someone else's device does not exist."""

    def __init__(self, db: Database, hub: EventHub | None = None) -> None:
        self._db = db
        self._hub = hub

    async def list(
        self,
        principal: Principal,
        *,
        owner_id: int | None = None,
        orphans: bool = False,
        limit: int,
        offset: int,
    ) -> tuple[list[Device], int]:
        if not principal.is_admin:
            owner_id, orphans = principal.user_id, False
        async with self._db.read() as conn:
            return await devices_store.page(
                conn, owner_id=owner_id, orphans=orphans, limit=limit, offset=offset
            )

    async def get(self, principal: Principal, device_id: int) -> Device:
        async with self._db.read() as conn:
            device = await devices_store.get(conn, device_id)
        if device is None or not (principal.is_admin or device.owner_id == principal.user_id):
            raise _not_found(device_id)
        return device

    async def create(
        self,
        principal: Principal,
        *,
        description: str,
        address: str,
        max_hourly_wh: int,
        owner_id: int | None = None,
        meter_kind: MeterKind = "interval",
    ) -> Device:
        require_admin(principal)
        async with self._db.write() as conn:
            if owner_id is not None and await users_store.get(conn, owner_id) is None:
                raise NotFound(f"user {owner_id} not found")
            device = await devices_store.insert(
                conn,
                description=description.strip(),
                address=address.strip(),
                max_hourly_wh=max_hourly_wh,
                owner_id=owner_id,
                meter_kind=meter_kind,
            )
        self._announce_owner(None, device)
        return device

    async def update(self, principal: Principal, device_id: int, changes: dict[str, Any]) -> Device:
        """Change description, address or the maximum hourly consumption."""
        require_admin(principal)
        changes = {k: v.strip() if isinstance(v, str) else v for k, v in changes.items()}
        return await self._change(device_id, changes)

    async def assign(
        self, principal: Principal, device_id: int, user_id: int, *, include_history: bool = False
    ) -> Device:
        """Give the device to `user_id`, who sees its data from now on (with
        `include_history`, all of it). Assigning it to its owner again keeps when their
        period began and sets only `include_history`."""
        require_admin(principal)
        async with self._db.read() as conn:
            if await users_store.get(conn, user_id) is None:
                raise NotFound(f"user {user_id} not found")
        return await self._change(device_id, {"owner_id": user_id}, include_history)

    async def unassign(self, principal: Principal, device_id: int) -> Device:
        require_admin(principal)
        return await self._change(device_id, {"owner_id": None})

    async def delete(self, principal: Principal, device_id: int) -> None:
        require_admin(principal)
        async with self._db.write() as conn:
            before = await devices_store.get(conn, device_id)
            if before is None or not await devices_store.delete(conn, device_id):
                raise _not_found(device_id)
        self._announce_owner(before, None)

    async def _change(
        self, device_id: int, changes: dict[str, Any], include_history: bool = False
    ) -> Device:
        async with self._db.write() as conn:
            before = await devices_store.get(conn, device_id)
            if before is None:
                raise _not_found(device_id)
            device = await devices_store.update(conn, device_id, changes)
            if "owner_id" in changes:
                # The assignment period changes with the owner, in the same transaction.
                # An owner without an open period (it can only have been lost) gets one.
                owner = changes["owner_id"]
                if owner != before.owner_id or before.owner_since is None:
                    await devices_store.start_period(
                        conn, device_id, owner, include_history=include_history
                    )
                elif owner is not None:
                    await devices_store.set_history(conn, device_id, include_history)
                device = await devices_store.get(conn, device_id)
        assert device is not None
        self._announce_owner(before, device)
        return device

    def _announce_owner(self, before: Device | None, after: Device | None) -> None:
        """A change of owner, after the commit: the old owner loses the device, the new gets it."""
        old = before.owner_id if before else None
        new = after.owner_id if after else None
        changed = after or before
        if self._hub is None or old == new or changed is None:
            return
        device_id = changed.id
        if old is not None:
            self._hub.publish(DeviceUnassigned(device_id, old, new_owner_id=new))
        if after is not None and new is not None:
            self._hub.publish(DeviceAssigned(after, previous_owner_id=old))


def visible_from(principal: Principal, device: Device) -> int:
    """The first second (Unix) of the device's data the caller may see: 0 for all of it.
    Admins see everything; the owner sees their assignment period (services reach a device
    through `DeviceService.get`, so nobody else gets this far)."""
    return 0 if principal.is_admin else device.visible_from
