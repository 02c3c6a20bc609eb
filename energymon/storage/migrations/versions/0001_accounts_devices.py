"""Accounts and devices.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EMAIL = sa.String(254).with_variant(mysql.VARCHAR(254, collation="utf8mb4_bin"), "mysql")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("email", EMAIL, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(100), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "devices",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("max_hourly_wh", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name="fk_devices_owner_id_users", ondelete="SET NULL"
        ),
        **MYSQL_TABLE,
    )
    op.create_index("ix_devices_owner_id", "devices", ["owner_id"])


def downgrade() -> None:
    op.drop_table("devices")
    op.drop_table("users")
