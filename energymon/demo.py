"""Demo data for `energymon serve --demo`: known accounts and a few devices."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from energymon import keys
from energymon.auth.passwords import PasswordHasher
from energymon.config import ConfigError
from energymon.ingest.bus import LocalBus
from energymon.models import Principal, Role
from energymon.storage import users as users_store
from meter_sim.profiles import Household

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    name: str
    role: Role


DEMO_ADMIN = DemoAccount("admin@demo.energymon.org", "demo-admin-pass", "Demo Admin", Role.ADMIN)
DEMO_USER = DemoAccount("user@demo.energymon.org", "demo-user-pass", "Demo User", Role.USER)
DEMO_DEVICES = (
    ("Main meter", "12 Harbour Street, Flat 3", 900),
    ("Heat pump", "12 Harbour Street, Flat 3", 3500),
    ("EV charger", "12 Harbour Street, garage", 7400),
)
ORPHAN_DEVICE = ("Spare meter", "Warehouse shelf B", 1500)


INTERVAL = 600  # backfilled readings: one per device every 10 minutes
LIVE_PERIOD = 10  # then one per device every 10 seconds, so charts grow visibly


async def seed(app: web.Application) -> None:
    """Create the demo accounts and devices unless they exist already."""
    db = app[keys.DATABASE]
    async with db.read() as conn:
        existing = await users_store.get_by_email(conn, DEMO_ADMIN.email)
    if existing is not None:
        return
    users, devices = app[keys.USERS], app[keys.DEVICES]
    bootstrap = Principal(user_id=0, email="demo-seed", role=Role.ADMIN)
    admin = await users.create(
        bootstrap,
        email=DEMO_ADMIN.email,
        password=DEMO_ADMIN.password,
        name=DEMO_ADMIN.name,
        role=Role.ADMIN,
    )
    user = await users.create(
        bootstrap, email=DEMO_USER.email, password=DEMO_USER.password, name=DEMO_USER.name
    )
    acting = Principal(user_id=admin.id, email=admin.email, role=Role.ADMIN)
    for description, address, max_wh in DEMO_DEVICES:
        await devices.create(
            acting,
            description=description,
            address=address,
            max_hourly_wh=max_wh,
            owner_id=user.id,
        )
    description, address, max_wh = ORPHAN_DEVICE
    await devices.create(acting, description=description, address=address, max_hourly_wh=max_wh)
    _LOGGER.info("demo data created")


async def refuse_published_passwords(app: web.Application) -> AsyncIterator[None]:
    """Outside --demo: refuse to serve a database where a demo account still has its
    published password (someone ran the demo on it); anyone could log in as its admin."""
    db = app[keys.DATABASE]
    hasher = PasswordHasher(app[keys.CONFIG].auth.bcrypt_rounds)
    for account in (DEMO_ADMIN, DEMO_USER):
        async with db.read() as conn:
            user = await users_store.get_by_email(conn, account.email)
        if user is not None and await hasher.verify(account.password, user.password_hash):
            raise ConfigError(
                f"database {db.display_url()} holds the demo account {account.email} with its "
                "published password: delete it or change its password (serve --demo), or "
                "use another database"
            )
    yield


def banner(base_url: str) -> str:
    lines = [
        "",
        "energymon demo is running at " + base_url,
        f"  admin: {DEMO_ADMIN.email} / {DEMO_ADMIN.password}",
        f"  user:  {DEMO_USER.email} / {DEMO_USER.password}",
        "  API docs: " + base_url + "/api/docs",
        "",
    ]
    return "\n".join(lines)


def _reading(device_id: int, start: int, end: int) -> bytes:
    kwh = Household.for_device(1, device_id).energy_mwh(start, end) / 1_000_000
    return json.dumps({"device_id": device_id, "ts": end, "value": round(kwh, 6)}).encode()


async def _feed(bus: LocalBus, device_ids: list[int]) -> None:
    """Today's readings so far, then live ones, from simulated households."""
    now = int(time.time())
    last = now - now % 86400
    for ts in range(last + INTERVAL, now + 1, INTERVAL):
        for device_id in device_ids:
            bus.publish(_reading(device_id, ts - INTERVAL, ts))
        last = ts
    while True:
        await asyncio.sleep(LIVE_PERIOD)
        now = int(time.time())
        for device_id in device_ids:
            bus.publish(_reading(device_id, last, now))
        last = now


async def context(app: web.Application) -> AsyncIterator[None]:
    """Seed the demo data; without a broker, also feed the demo devices with live readings."""
    await seed(app)
    bus = app.get(keys.BUS)
    if bus is None:
        yield
        return
    async with app[keys.DATABASE].read() as conn:
        user = await users_store.get_by_email(conn, DEMO_USER.email)
    principal = Principal(user_id=user.id, email=user.email, role=Role.USER) if user else None
    device_ids = []
    if principal is not None:
        devices, _ = await app[keys.DEVICES].list(principal, limit=100, offset=0)
        device_ids = [d.id for d in devices]
    task = asyncio.create_task(_feed(bus, device_ids), name="energymon-demo-meters")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
