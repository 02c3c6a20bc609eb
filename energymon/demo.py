"""Demo data for `energymon serve --demo`: known accounts and a few devices."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from energymon import keys
from energymon.models import Principal, Role
from energymon.storage import users as users_store

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
    ("Main meter", "12 Harbour Street, Flat 3", 2000),
    ("Heat pump", "12 Harbour Street, Flat 3", 3500),
    ("EV charger", "12 Harbour Street, garage", 7400),
)
ORPHAN_DEVICE = ("Spare meter", "Warehouse shelf B", 1500)


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
