"""UserService rules that need real concurrency: at least one enabled admin always remains."""

from __future__ import annotations

import asyncio

from energymon.auth.passwords import PasswordHasher
from energymon.errors import Conflict
from energymon.models import Principal, Role
from energymon.services.users import UserService
from energymon.storage import Database
from energymon.storage import users as users_store
from energymon.storage.schema import users

ROUNDS = 5


def _as(actor) -> Principal:  # type: ignore[no-untyped-def]
    return Principal(user_id=actor.id, email=actor.user.email, role=Role.ADMIN)


async def _race(service: UserService, a, b, change) -> list[object]:  # type: ignore[no-untyped-def]
    """a changes b and b changes a, at the same moment, each in its own transaction."""
    return await asyncio.gather(
        change(service, _as(a), b.id), change(service, _as(b), a.id), return_exceptions=True
    )


async def _demote(service: UserService, who: Principal, target: int) -> object:
    return await service.update(who, target, {"role": Role.USER})


async def _disable(service: UserService, who: Principal, target: int) -> object:
    return await service.update(who, target, {"disabled": True})


async def _delete(service: UserService, who: Principal, target: int) -> object:
    return await service.delete(who, target)


async def test_two_admins_removing_each_other_at_once_leave_one(db: Database, make_actor):
    service = UserService(db, PasswordHasher(12))
    for round_ in range(ROUNDS):
        for change in (_demote, _disable, _delete):
            a = await make_actor(Role.ADMIN, email=f"a{round_}{change.__name__}@example.com")
            b = await make_actor(Role.ADMIN, email=f"b{round_}{change.__name__}@example.com")
            async with db.write() as conn:
                # Only these two are admins: every other admin of earlier rounds steps down.
                await conn.execute(
                    users.update()
                    .where(users.c.id.not_in([a.id, b.id]))
                    .values(role=Role.USER.value)
                )
            results = await _race(service, a, b, change)
            refused = [r for r in results if isinstance(r, Conflict)]
            assert len(refused) == 1, (change.__name__, results)
            async with db.read() as conn:
                assert await users_store.count_active_admins(conn) == 1


async def test_the_last_admin_cannot_be_removed_by_another_path(db: Database, make_actor):
    service = UserService(db, PasswordHasher(12))
    admin = await make_actor(Role.ADMIN)
    # A principal the command line uses (no account row): it may not remove the last admin.
    operator = Principal(user_id=0, email="cli", role=Role.ADMIN)
    for change in (_demote, _disable, _delete):
        try:
            await change(service, operator, admin.id)
        except Conflict:
            continue
        raise AssertionError(f"{change.__name__} removed the last admin")
