"""Readings, hourly totals, alerts, ingest tokens and the meter kind.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["device_id"], ["devices.id"], name=f"fk_{table}_device_id_devices", ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(
            sa.Column("meter_kind", sa.String(16), nullable=False, server_default="interval")
        )
    op.create_table(
        "readings",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("value_mwh", sa.BigInteger(), nullable=False),
        sa.Column("consumption_mwh", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "ts", name="pk_readings"),
        _device_fk("readings"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "hourly",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("hour_ts", sa.BigInteger(), nullable=False),
        sa.Column("total_mwh", sa.BigInteger(), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "hour_ts", name="pk_hourly"),
        _device_fk("hourly"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("hour_ts", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("limit_wh", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint(
            "device_id", "hour_ts", "kind", name="uq_alerts_device_id_hour_ts_kind"
        ),
        _device_fk("alerts"),
        **MYSQL_TABLE,
    )
    op.create_table(
        "ingest_tokens",
        sa.Column("device_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_ingest_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_ingest_tokens_token_hash"),
        _device_fk("ingest_tokens"),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("ingest_tokens")
    op.drop_table("alerts")
    op.drop_table("hourly")
    op.drop_table("readings")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("meter_kind")
