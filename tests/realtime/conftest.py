"""Socket.IO clients against a served app, devices with ingest tokens, and a clock in this hour."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import socketio

from tests.conftest import Actor


def this_hour(second: int = 0) -> int:
    """A Unix time inside the current clock hour (readings in the past, never the future)."""
    now = int(time.time())
    return now - now % 3600 + second


@dataclass
class Listener:
    """A socket.io client that records every event it receives."""

    url: str
    client: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False)
    )
    heard: list[tuple[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    refusal: Any = None

    def __post_init__(self) -> None:
        def record(event: str, *args: Any) -> None:
            self.heard.append((event, args[0] if args else None))
            self.changed.set()

        self.client.on("*", record)

        def gone(*_args: Any) -> None:
            self.disconnected.set()
            self.changed.set()

        self.client.on("disconnect", gone)

        def refused(data: Any) -> None:
            self.refusal = data

        self.client.on("connect_error", refused)

    async def connect(self, auth: Any = None, headers: dict[str, str] | None = None) -> None:
        await self.client.connect(
            self.url,
            auth=auth,
            headers=headers or {},
            transports=["websocket"],
            wait_timeout=10,
        )

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=10)

    def events(self, name: str) -> list[Any]:
        return [data for event, data in self.heard if event == name]

    async def wait_for(
        self, name: str, check: Callable[[Any], bool] = lambda _d: True, timeout: float = 10
    ) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for data in self.events(name):
                if check(data):
                    return data
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {name!r} within {timeout} s; heard {self.heard}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def listen() -> AsyncIterator[Callable[..., Any]]:
    """Connect a recording client as `actor` (or with any auth / headers) to `url`."""
    opened: list[Listener] = []

    async def make(
        url: str,
        actor: Actor | None = None,
        *,
        auth: Any = None,
        headers: dict[str, str] | None = None,
        connect: bool = True,
    ) -> Listener:
        listener = Listener(url)
        opened.append(listener)
        if connect:
            await listener.connect(
                auth if auth is not None or actor is None else {"token": actor.token}, headers
            )
        return listener

    yield make
    for listener in opened:
        await listener.close()


@dataclass
class Api:
    """REST calls to one served app."""

    url: str
    session: aiohttp.ClientSession

    async def call(
        self, method: str, path: str, actor: Actor | None = None, body: Any = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {actor.token}"} if actor else {}
        headers.update(kw.pop("headers", {}))
        async with self.session.request(
            method, self.url + path, json=body, headers=headers, **kw
        ) as resp:
            data = await resp.json(content_type=None) if resp.content_length != 0 else None
            return resp.status, data

    async def ok(self, method: str, path: str, actor: Actor | None = None, body: Any = None) -> Any:
        status, data = await self.call(method, path, actor, body)
        assert 200 <= status < 300, (status, data)
        return data


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Device:
    """A device made through the admin API, with its ingest token."""

    id: int
    token: str
    api: Api

    async def send(self, readings: list[dict[str, Any]], api: Api | None = None) -> Any:
        status, data = await (api or self.api).call(
            "POST",
            "/api/v1/ingest",
            body=readings,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert status == 200, data
        return data


async def make_device(
    api: Api, admin: Actor, owner: Actor | None, *, max_kwh: float = 1.0, description: str = "Meter"
) -> Device:
    body: dict[str, Any] = {"description": description, "max_hourly_kwh": max_kwh}
    if owner is not None:
        body["owner_id"] = owner.id
    device = await api.ok("POST", "/api/v1/devices", admin, body)
    token = await api.ok("POST", f"/api/v1/devices/{device['id']}/ingest-token", admin)
    return Device(device["id"], token["token"], api)
