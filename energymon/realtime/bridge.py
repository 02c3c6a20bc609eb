"""The hub -> socket bridge: events from the services become Socket.IO emits to rooms.

Hub subscribers must not block, so events are turned into jobs for one sender task. Readings
and hour totals go to `device:<id>` rooms only while someone in this process follows the device,
at most `readings_per_second` per device (the latest wins); alerts are never held back or
dropped. The bridge also keeps who follows which device, so an owner change takes the previous
owner out at once, and events attributed to another owner never reach a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import socketio

from energymon.events import (
    BULK_KINDS,
    AccountRevoked,
    AlertRaised,
    AlertWithdrawn,
    DeviceAssigned,
    DeviceUnassigned,
    Event,
    EventHub,
    HourTotalChanged,
    ReadingStored,
    SessionsEnded,
)
from energymon.realtime import payloads

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "/"
ADMINS_ROOM = "admins"

# Jobs started together by the sender.
MAX_ROUND = 1000

Job = tuple[Callable[..., Awaitable[Any]], tuple[Any, ...], dict[str, Any]]
# (socket event, device, hour start or 0): the latest of each key wins while throttled.
ThrottleKey = tuple[str, int, int]
# Events the bridge pushes to a device's room, throttled.
DeviceEvent = ReadingStored | HourTotalChanged
E = TypeVar("E", bound=Event)


def _device_room(device_id: int) -> str:
    return f"device:{device_id}"


def _user_room(user_id: int) -> str:
    return f"user:{user_id}"


class Bridge:
    """Subscribes to the hub; one task sends, in order."""

    def __init__(
        self, sio: socketio.AsyncServer, hub: EventHub, *, readings_per_second: float
    ) -> None:
        self._sio = sio
        self._hub = hub
        self._interval = 1.0 / readings_per_second
        self._jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # device id -> {sid: the follower's user id, None for admins (they see every device)}
        self._watchers: dict[int, dict[str, int | None]] = {}
        self._following: dict[str, set[int]] = {}
        self._last_sent: dict[ThrottleKey, float] = {}
        self._held: dict[ThrottleKey, DeviceEvent] = {}
        # socket sid -> the session (login) it was opened with
        self._sessions: dict[str, str | None] = {}
        self.sent = 0
        self._unsubscribe: Callable[[], None] = lambda: None

    # ---- life -------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._send_loop(), name="energymon-realtime-bridge")
        self._unsubscribe = self._hub.subscribe(self.on_event, self.wants)

    def wants(self, kind: type[Event]) -> bool:
        """Readings and hour totals only while someone here follows a device."""
        return bool(self._watchers) or kind not in BULK_KINDS

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _send_loop(self) -> None:
        """Run queued jobs in order, many at a time.

        Jobs of one round start in queue order and each hands its packets to the sockets
        before it first waits, so every socket still gets them in order; a round of
        thousands of alerts costs a few loop turns instead of one per alert.
        """
        while True:
            jobs = [await self._jobs.get()]
            while len(jobs) < MAX_ROUND and not self._jobs.empty():
                jobs.append(self._jobs.get_nowait())
            results = await asyncio.gather(
                *(function(*args, **kwargs) for function, args, kwargs in jobs),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, Exception):
                    _LOGGER.error("socket emit failed", exc_info=result)

    def _queue(self, function: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        self._jobs.put_nowait((function, args, kwargs))

    # ---- who follows what --------------------------------------------------------------------

    async def follow(self, sid: str, device_id: int, user_id: int | None) -> None:
        first = not self._watchers
        self._watchers.setdefault(device_id, {})[sid] = user_id
        self._following.setdefault(sid, set()).add(device_id)
        if first:
            # The first follower in this process: readings stored elsewhere must come here.
            await self._hub.refresh_interest()

    def unfollow(self, sid: str, device_id: int) -> None:
        watchers = self._watchers.get(device_id)
        if watchers is not None:
            watchers.pop(sid, None)
            if not watchers:
                del self._watchers[device_id]
                self._forget_device(device_id)
        followed = self._following.get(sid)
        if followed is not None:
            followed.discard(device_id)

    def following(self, sid: str) -> set[int]:
        return self._following.get(sid, set())

    def follows(self, sid: str, device_id: int) -> bool:
        return device_id in self._following.get(sid, ())

    def bind_session(self, sid: str, session_id: str | None) -> None:
        self._sessions[sid] = session_id

    def forget(self, sid: str) -> None:
        """A connection ended."""
        self._sessions.pop(sid, None)
        for device_id in list(self._following.pop(sid, ())):
            self.unfollow(sid, device_id)

    def _forget_device(self, device_id: int) -> None:
        for key in [k for k in self._last_sent if k[1] == device_id]:
            del self._last_sent[key]

    # ---- events in ---------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """The hub subscriber: cheap decisions here, rendering and emits in the sender task."""
        match event:
            case ReadingStored():
                if event.reading.device_id in self._watchers:
                    self._offer(("reading", event.reading.device_id, 0), event)
            case HourTotalChanged():
                if event.device_id in self._watchers:
                    self._offer(("hourly", event.device_id, event.hour_ts), event)
            case AlertRaised():
                self._queue(self._to_owner, "alert", payloads.alert, event, event.alert.owner_id)
            case AlertWithdrawn():
                owner = event.alert.owner_id
                self._queue(
                    self._to_owner, "alert_withdrawn", payloads.alert_withdrawn, event, owner
                )
            case DeviceAssigned(device=device):
                self._owner_changed(device.id, device.owner_id)
                self._queue(
                    self._to_owner,
                    "device_assigned",
                    payloads.device_assigned,
                    event,
                    device.owner_id,
                )
            case DeviceUnassigned():
                self._owner_changed(event.device_id, event.new_owner_id)
                self._queue(
                    self._to_owner,
                    "device_unassigned",
                    payloads.device_unassigned,
                    event,
                    event.owner_id,
                )
            case AccountRevoked():
                self._queue(self._revoke_user, event.user_id, event.reason)
            case SessionsEnded():
                self._queue(self._revoke_sessions, event)

    def _owner_changed(self, device_id: int, owner_id: int | None) -> None:
        """Only admins and the current owner may stay in the device's room, from now on."""
        for sid, user_id in list(self._watchers.get(device_id, {}).items()):
            if user_id is not None and user_id != owner_id:
                self.unfollow(sid, device_id)
                self._queue(self._sio.leave_room, sid, _device_room(device_id), NAMESPACE)

    # ---- coalescing --------------------------------------------------------------------------

    def _offer(self, key: ThrottleKey, event: DeviceEvent) -> None:
        """At most one emit per interval per key; in between, the latest event waits."""
        if key in self._held:
            self._held[key] = event
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self._last_sent.get(key, -1e18) + self._interval
        if now >= due:
            self._last_sent[key] = now
            self._queue(self._to_device, key[0], event)
        else:
            self._held[key] = event
            loop.call_at(due, self._release, key)

    def _release(self, key: ThrottleKey) -> None:
        event = self._held.pop(key, None)
        if event is not None and key[1] in self._watchers:
            self._last_sent[key] = asyncio.get_running_loop().time()
            self._queue(self._to_device, key[0], event)

    # ---- emits (sender task) -----------------------------------------------------------------

    async def _to_device(self, name: str, event: DeviceEvent) -> None:
        device_id = event.device_id
        watchers = self._watchers.get(device_id)
        if not watchers:
            return
        # A follower who is not the owner the event was stored for hears nothing of it.
        skip = [sid for sid, uid in watchers.items() if uid is not None and uid != event.owner_id]
        if len(skip) == len(watchers):
            return
        data = (
            payloads.reading(event) if isinstance(event, ReadingStored) else payloads.hourly(event)
        )
        self.sent += 1
        await self._sio.emit(
            name,
            data,
            to=_device_room(device_id),
            skip_sid=skip or None,
            namespace=NAMESPACE,
        )

    async def _to_owner(
        self, name: str, render: Callable[[E], dict[str, Any]], event: E, owner_id: int | None
    ) -> None:
        rooms = [ADMINS_ROOM] if owner_id is None else [_user_room(owner_id), ADMINS_ROOM]
        self.sent += 1
        # Socket.IO takes a list of rooms; its stubs only know one.
        await self._sio.emit(name, render(event), to=rooms, namespace=NAMESPACE)  # type: ignore[arg-type]

    async def _revoke_user(self, user_id: int, reason: str) -> None:
        room = _user_room(user_id)
        for sid in [sid for sid, _ in self._sio.manager.get_participants(NAMESPACE, room)]:
            await self._revoke(sid, reason)

    async def _revoke_sessions(self, event: SessionsEnded) -> None:
        """Close the account's connections of the ended sessions (`sessions`, or all but
        `keep`)."""
        room = _user_room(event.user_id)
        for sid in [sid for sid, _ in self._sio.manager.get_participants(NAMESPACE, room)]:
            if event.ends(self._sessions.get(sid)):
                await self._revoke(sid, event.reason)

    def revoke_sid(self, sid: str, reason: str) -> None:
        self._queue(self._revoke, sid, reason)

    async def _revoke(self, sid: str, reason: str) -> None:
        self.forget(sid)
        with contextlib.suppress(Exception):
            await self._sio.emit("session_revoked", {"reason": reason}, to=sid, namespace=NAMESPACE)
        await self._sio.disconnect(sid, namespace=NAMESPACE)
