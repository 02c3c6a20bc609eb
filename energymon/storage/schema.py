"""The tables, declared once for both engines (the migrations build the same thing)."""

from __future__ import annotations

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
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

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
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("description", sa.String(200), nullable=False),
    sa.Column("address", sa.String(300), nullable=False),
    sa.Column("max_hourly_wh", sa.BigInteger(), nullable=False),
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
)
