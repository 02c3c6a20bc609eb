"""Small helpers the benchmark scripts share."""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from energymon.auth.tokens import TokenIssuer
from energymon.models import Role
from energymon.storage import Database
from energymon.storage.common import utcnow
from energymon.storage.migrate import upgrade
from energymon.storage.schema import sessions

MYSQL_ROOT = "mysql://root@127.0.0.1:3306"
VAR = Path(__file__).resolve().parent.parent / "var"


def log(*args: object) -> None:
    """Progress goes to stderr; stdout carries only the JSON result."""
    print(*args, file=sys.stderr, flush=True)


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


async def create_database(kind: str, label: str) -> str:
    """A throwaway database at the current schema: on MariaDB (`kind` "mysql") or a SQLite
    file in var/. Remove it with `drop_database`."""
    name = f"energymon_bench_{label}_{secrets.token_hex(3)}"
    if kind == "mysql":
        admin = Database(f"{MYSQL_ROOT}/mysql")
        try:
            async with admin.engine.connect() as conn:
                await conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        finally:
            await admin.close()
        url = f"{MYSQL_ROOT}/{name}"
    else:
        VAR.mkdir(exist_ok=True)
        url = f"sqlite:///{VAR / f'{name}.db'}"
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.close()
    return url


async def drop_database(url: str) -> None:
    """Remove a benchmark's throwaway database (MariaDB) or SQLite file."""
    if url.startswith("mysql"):
        admin = Database(f"{MYSQL_ROOT}/mysql")
        async with admin.engine.connect() as conn:
            await conn.execute(sa.text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}"))
        await admin.close()
    else:
        remove_sqlite(url.removeprefix("sqlite:///"))


def remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


async def session_tokens(
    db: Database, issuer: TokenIssuer, accounts: list[tuple[int, Role]]
) -> list[str]:
    """Log many accounts in at once: a session row each, as a login makes, and its token."""
    now = utcnow()
    ids = [secrets.token_hex(16) for _ in accounts]
    expires = now + timedelta(seconds=issuer.ttl_seconds)
    rows = [
        {"id": sid, "user_id": uid, "created_at": now, "expires_at": expires}
        for sid, (uid, _role) in zip(ids, accounts, strict=True)
    ]
    async with db.write() as conn:
        await conn.execute(sessions.insert(), rows)
    return [issuer.issue(uid, role, sid) for sid, (uid, role) in zip(ids, accounts, strict=True)]
