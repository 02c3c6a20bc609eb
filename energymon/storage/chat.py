"""Chat messages and read marks."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from energymon.models import ChatMessage, Conversation, Role
from energymon.storage.common import AnyRow, inserted_id
from energymon.storage.schema import chat_messages, chat_reads, users

_MESSAGE = (
    chat_messages.c.id,
    chat_messages.c.user_id,
    chat_messages.c.sender_id,
    chat_messages.c.sender_name,
    chat_messages.c.side,
    chat_messages.c.text,
    chat_messages.c.created_ms,
)


def _message(row: AnyRow) -> ChatMessage:
    return ChatMessage(
        id=int(row.id),
        user_id=int(row.user_id),
        sender_id=None if row.sender_id is None else int(row.sender_id),
        sender_name=row.sender_name,
        side=Role(row.side),
        text=row.text,
        created_ms=int(row.created_ms),
    )


async def insert(
    conn: AsyncConnection,
    *,
    user_id: int,
    sender_id: int,
    sender_name: str,
    side: Role,
    text: str,
    created_ms: int,
) -> ChatMessage:
    values = {
        "user_id": user_id,
        "sender_id": sender_id,
        "sender_name": sender_name,
        "side": side.value,
        "text": text,
        "created_ms": created_ms,
    }
    result = await conn.execute(chat_messages.insert().values(**values))
    return ChatMessage(
        id=inserted_id(result),
        user_id=user_id,
        sender_id=sender_id,
        sender_name=sender_name,
        side=side,
        text=text,
        created_ms=created_ms,
    )


async def get(conn: AsyncConnection, message_id: int) -> ChatMessage | None:
    query = sa.select(*_MESSAGE).where(chat_messages.c.id == message_id)
    row = (await conn.execute(query)).first()
    return _message(row) if row else None


async def page(
    conn: AsyncConnection, user_id: int, *, before_id: int | None, limit: int
) -> tuple[list[ChatMessage], bool]:
    """Up to `limit` messages older than `before_id` (newest first), and whether more exist."""
    query = sa.select(*_MESSAGE).where(chat_messages.c.user_id == user_id)
    if before_id:
        query = query.where(chat_messages.c.id < before_id)
    query = query.order_by(chat_messages.c.id.desc()).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    return [_message(r) for r in rows[:limit]], len(rows) > limit


async def read_marks(conn: AsyncConnection, user_id: int) -> dict[Role, int]:
    """The last message id each side has read (0 when it has read nothing)."""
    query = sa.select(chat_reads.c.side, chat_reads.c.message_id).where(
        chat_reads.c.user_id == user_id
    )
    marks = {Role.USER: 0, Role.ADMIN: 0}
    for row in (await conn.execute(query)).all():
        marks[Role(row.side)] = int(row.message_id)
    return marks


async def mark_read(
    conn: AsyncConnection, user_id: int, side: Role, message_id: int, reader_id: int, now_ms: int
) -> bool:
    """Move a side's read mark forward to `message_id`; False when it already was there."""
    values = {"message_id": message_id, "reader_id": reader_id, "updated_ms": now_ms}
    key = (chat_reads.c.user_id == user_id) & (chat_reads.c.side == side.value)
    for _attempt in range(2):
        result = await conn.execute(
            chat_reads.update().where(key & (chat_reads.c.message_id < message_id)).values(**values)
        )
        if result.rowcount:
            return True
        exists = (await conn.execute(sa.select(chat_reads.c.message_id).where(key))).first()
        if exists is not None:
            return False
        try:
            async with conn.begin_nested():
                await conn.execute(
                    chat_reads.insert().values(user_id=user_id, side=side.value, **values)
                )
        except IntegrityError:
            continue  # another writer created the mark first: compare with theirs
        return True
    return False


# Built once: aliases make new column objects, which cost more than the query itself.
_UNREAD_MARK = chat_reads.alias("unread_mark")
_UNREAD_MESSAGES = chat_messages.alias("unread_messages")


def _unread_query(user_id: Any, side: Role) -> sa.ScalarSelect[Any]:
    """Messages of the other side newer than `side`'s read mark."""
    # Aliases: the enclosing query may read the same tables, which must not correlate.
    reads, messages = _UNREAD_MARK, _UNREAD_MESSAGES
    mark = (
        sa.select(reads.c.message_id)
        .where(reads.c.user_id == user_id, reads.c.side == side.value)
        .correlate_except(reads)
        .scalar_subquery()
    )
    return (
        sa.select(sa.func.count())
        .select_from(messages)
        .where(
            messages.c.user_id == user_id,
            messages.c.side != side.value,
            messages.c.id > sa.func.coalesce(mark, 0),
        )
        .correlate_except(messages)
        .scalar_subquery()
    )


_USER_MARK = chat_reads.alias("user_mark")
_ADMIN_MARK = chat_reads.alias("admin_mark")
_UNREAD = {
    side: sa.select(_unread_query(sa.bindparam("user_id"), side))
    for side in (Role.USER, Role.ADMIN)
}


async def unread(conn: AsyncConnection, user_id: int, side: Role) -> int:
    return int((await conn.execute(_UNREAD[side], {"user_id": user_id})).scalar_one())


async def conversation(conn: AsyncConnection, user_id: int, side: Role) -> Conversation | None:
    """One user's conversation as `side` sees it; None when the user does not exist."""
    found = await conversations(conn, side, user_id=user_id, limit=1, offset=0)
    return found[0][0] if found[0] else None


async def conversations(
    conn: AsyncConnection,
    side: Role,
    *,
    user_id: int | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Conversation], int]:
    """Conversations that have messages (or the one of `user_id`), newest activity first."""
    latest = (
        sa.select(
            chat_messages.c.user_id.label("user_id"),
            sa.func.max(chat_messages.c.id).label("latest_id"),
        )
        .group_by(chat_messages.c.user_id)
        .subquery("latest")
    )
    if user_id is None:
        base = sa.select(users.c.id).join(latest, latest.c.user_id == users.c.id)
        total = int(
            (
                await conn.execute(sa.select(sa.func.count()).select_from(base.subquery()))
            ).scalar_one()
        )
    else:
        total = 1
    user_mark, admin_mark = (
        sa.select(reads.c.message_id)
        .where(reads.c.user_id == users.c.id, reads.c.side == s.value)
        .correlate_except(reads)
        .scalar_subquery()
        for reads, s in ((_USER_MARK, Role.USER), (_ADMIN_MARK, Role.ADMIN))
    )
    query = sa.select(
        users.c.id.label("conv_id"),
        users.c.name.label("conv_name"),
        users.c.email.label("conv_email"),
        _unread_query(users.c.id, side).label("unread"),
        sa.func.coalesce(user_mark, 0).label("user_read_id"),
        sa.func.coalesce(admin_mark, 0).label("admin_read_id"),
        *_MESSAGE,
    )
    if user_id is None:
        query = query.select_from(
            users.join(latest, latest.c.user_id == users.c.id).join(
                chat_messages, chat_messages.c.id == latest.c.latest_id
            )
        )
        query = query.order_by(latest.c.latest_id.desc()).limit(limit).offset(offset)
    else:
        query = query.select_from(
            users.outerjoin(latest, latest.c.user_id == users.c.id).outerjoin(
                chat_messages, chat_messages.c.id == latest.c.latest_id
            )
        ).where(users.c.id == user_id, users.c.role == Role.USER.value)
    rows = (await conn.execute(query)).all()
    return [
        Conversation(
            user_id=int(r.conv_id),
            user_name=r.conv_name,
            user_email=r.conv_email,
            unread=int(r.unread),
            latest=_message(r) if r.id is not None else None,
            user_read_id=int(r.user_read_id),
            admin_read_id=int(r.admin_read_id),
        )
        for r in rows
    ], total
