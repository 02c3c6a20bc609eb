"""The tables, declared once for both engines (the migrations build the same thing)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# BIGINT ids on MySQL; on SQLite only INTEGER PRIMARY KEY is the auto-increasing rowid.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Emails are normalised to lower case in Python and compared byte for byte on both engines.
EMAIL = sa.String(254).with_variant(mysql.VARCHAR(254, collation="utf8mb4_bin"), "mysql")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
# Ids are never used twice: SQLite's plain rowid reuses the highest id after a delete (a
# deleted account's or device's id would pass to the next one); AUTOINCREMENT forbids that.
# MariaDB's AUTO_INCREMENT never goes back (persistent since 10.2.4).
NO_REUSE: dict[str, Any] = {"sqlite_autoincrement": True}

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("email", EMAIL, nullable=False, unique=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(100), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False, default=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    **MYSQL_TABLE,
    **NO_REUSE,
)

# A login: tokens carry its id, and each request checks it is still here. Logging out, a
# password change, disabling, deleting or a role change delete rows, which ends those tokens.
sessions = sa.Table(
    "sessions",
    metadata,
    # 128 random bits in hex (lower case: MariaDB compares strings case-insensitively).
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False, index=True),
    sa.Index(None, "user_id", "created_at"),
    **MYSQL_TABLE,
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("address", sa.String(300), nullable=False),
    sa.Column("max_hourly_wh", sa.BigInteger(), nullable=False),
    sa.Column("meter_kind", sa.String(16), nullable=False, server_default="interval"),
    sa.Column(
        "owner_id",
        ID,
        sa.ForeignKey("users.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    **MYSQL_TABLE,
    **NO_REUSE,
)

# Who owned a device when: one row per assignment, written in the same transaction as the
# owner change. The open period (ended_ts NULL) of the current owner decides what they see:
# readings from started_ts on, or everything when include_history. Times are Unix seconds,
# like readings.ts, so the bound is a plain comparison. A user's or device's periods go with
# them (CASCADE).
device_assignments = sa.Table(
    "device_assignments",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("device_id", ID, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("started_ts", sa.BigInteger(), nullable=False),
    sa.Column("ended_ts", sa.BigInteger(), nullable=True),
    sa.Column("include_history", sa.Boolean(), nullable=False),
    sa.Index(None, "device_id", "ended_ts"),
    sa.Index(None, "user_id"),
    **MYSQL_TABLE,
)

# One row (id 1) whose epoch moves on with every change to devices that the ingest path
# caches (limit, kind, owner, description; deletions): each ingest batch reads it to know
# whether its process's cached meters are still current.
device_epoch = sa.Table(
    "device_epoch",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    **MYSQL_TABLE,
)

# ---- readings ------------------------------------------------------------------------------
# Energy is kept as integer milli-watt-hours (1 mWh = 0.000001 kWh), so sums are exact on
# both engines; timestamps as integer Unix seconds, so hours are plain arithmetic.

meter_kinds = ("interval", "cumulative")

readings = sa.Table(
    "readings",
    metadata,
    sa.Column("device_id", ID, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ts", sa.BigInteger(), nullable=False),
    # What the meter sent: energy since its previous reading, or its register total.
    sa.Column("value_mwh", sa.BigInteger(), nullable=False),
    # The consumption this reading accounts for (equal to value_mwh for interval meters).
    sa.Column("consumption_mwh", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("device_id", "ts"),
    **MYSQL_TABLE,
)

hourly = sa.Table(
    "hourly",
    metadata,
    sa.Column("device_id", ID, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("hour_ts", sa.BigInteger(), nullable=False),
    sa.Column("total_mwh", sa.BigInteger(), nullable=False),
    sa.Column("readings", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("device_id", "hour_ts"),
    **MYSQL_TABLE,
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("device_id", ID, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    sa.Column("hour_ts", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # hourly_limit: the hour's total when it crossed; peak_power: the average power in mW.
    sa.Column("value", sa.BigInteger(), nullable=False),
    sa.Column("limit_wh", sa.BigInteger(), nullable=False),
    sa.Column("late", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
    sa.UniqueConstraint("device_id", "hour_ts", "kind"),
    # The alert list pages newest hour first, by (hour_ts, id): overall, per device (an
    # owner's list is merged from theirs) and the unacknowledged ones.
    sa.Index(None, "hour_ts", "id"),
    sa.Index(None, "device_id", "hour_ts", "id"),
    sa.Index(None, "acknowledged_at", "hour_ts", "id"),
    **MYSQL_TABLE,
    **NO_REUSE,
)

ingest_tokens = sa.Table(
    "ingest_tokens",
    metadata,
    sa.Column("device_id", ID, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    # SHA-256 of the token; the token itself is shown once, when created.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    **MYSQL_TABLE,
)

# ---- chat ----------------------------------------------------------------------------------
# One conversation per user (user_id) with the admins. `side` is who wrote a message: "user"
# or "admin"; times are Unix milliseconds. Typing events are never stored.

chat_messages = sa.Table(
    "chat_messages",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # Which account wrote it (the admin, for answers); the name is kept as it was then.
    sa.Column("sender_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("sender_name", sa.String(100), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("created_ms", sa.BigInteger(), nullable=False),
    sa.Index(None, "user_id", "id"),
    **MYSQL_TABLE,
    **NO_REUSE,
)

# How far each side of a conversation has read: every admin shares the admin side's mark.
chat_reads = sa.Table(
    "chat_reads",
    metadata,
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("message_id", sa.BigInteger(), nullable=False),
    sa.Column("reader_id", ID, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    sa.Column("updated_ms", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("user_id", "side"),
    **MYSQL_TABLE,
)
