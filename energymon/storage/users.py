"""Users table queries."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.errors import Conflict
from energymon.models import Role, User
from energymon.storage import devices as devices_store
from energymon.storage.common import AnyRow, aware, count, inserted_id, like_pattern, utcnow
from energymon.storage.schema import users

COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.role,
    users.c.disabled,
    users.c.created_at,
    users.c.password_hash,
)


def from_row(row: AnyRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        role=Role(row.role),
        disabled=bool(row.disabled),
        created_at=aware(row.created_at),
        password_hash=row.password_hash,
    )


def _duplicate_email(email: str) -> Conflict:
    return Conflict(f"a user with email {email} already exists")


async def insert(
    conn: AsyncConnection,
    *,
    email: str,
    name: str,
    role: Role,
    password_hash: str,
    disabled: bool = False,
) -> User:
    """Add a user; Conflict when the email is taken."""
    now = utcnow()
    values = {
        "email": email,
        "name": name,
        "role": role.value,
        "password_hash": password_hash,
        "disabled": disabled,
        "created_at": now,
        "updated_at": now,
    }
    try:
        result = await conn.execute(users.insert().values(**values))
    except IntegrityError:
        raise _duplicate_email(email) from None
    return User(
        id=inserted_id(result),
        email=email,
        name=name,
        role=role,
        disabled=disabled,
        created_at=aware(now),
        password_hash=password_hash,
    )


async def get(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(sa.select(*COLUMNS).where(users.c.id == user_id))).first()
    return from_row(row) if row else None


async def get_by_email(conn: AsyncConnection, email: str) -> User | None:
    row = (await conn.execute(sa.select(*COLUMNS).where(users.c.email == email))).first()
    return from_row(row) if row else None


async def page(
    conn: AsyncConnection, *, search: str | None, limit: int, offset: int
) -> tuple[list[User], int]:
    """Users ordered by id, optionally those whose email contains `search`."""
    query = sa.select(*COLUMNS).order_by(users.c.id)
    if search:
        query = query.where(users.c.email.like(like_pattern(search), escape="\\"))
    total = await count(conn, query)
    rows = (await conn.execute(query.limit(limit).offset(offset))).all()
    return [from_row(r) for r in rows], total


async def update(conn: AsyncConnection, user_id: int, changes: dict[str, Any]) -> User | None:
    """Apply column changes; Conflict when a new email is taken."""
    values = {k: (v.value if isinstance(v, Role) else v) for k, v in changes.items()}
    values["updated_at"] = utcnow()
    try:
        await conn.execute(users.update().where(users.c.id == user_id).values(**values))
    except IntegrityError:
        raise _duplicate_email(str(changes.get("email"))) from None
    return await get(conn, user_id)


async def delete(conn: AsyncConnection, user_id: int) -> bool:
    result = await conn.execute(users.delete().where(users.c.id == user_id))
    if result.rowcount:
        # Their devices became orphans (ON DELETE SET NULL): owners cached for ingest changed.
        await devices_store.bump_epoch(conn)
    return result.rowcount > 0


async def lock_active_admins(conn: AsyncConnection) -> list[int]:
    """The ids of the enabled admins, locked until the transaction ends (MariaDB: FOR UPDATE;
    SQLite's write transaction holds the whole database), so two transactions that each
    remove an admin cannot both see the other one still there."""
    query = (
        sa.select(users.c.id)
        .where(users.c.role == Role.ADMIN.value, users.c.disabled == sa.false())
        .order_by(users.c.id)
        .with_for_update()
    )
    return [row.id for row in await conn.execute(query)]


async def count_active_admins(conn: AsyncConnection) -> int:
    query = sa.select(sa.func.count()).where(
        users.c.role == Role.ADMIN.value, users.c.disabled == sa.false()
    )
    return int((await conn.execute(query)).scalar_one())
