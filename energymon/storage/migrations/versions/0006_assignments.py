"""Assignment periods: who owned a device when, and whether they see its history.

Every device owned at the upgrade gets an open period with include_history true, so its
owner keeps seeing everything they saw before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import time
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "device_assignments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("device_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("started_ts", sa.BigInteger(), nullable=False),
        sa.Column("ended_ts", sa.BigInteger(), nullable=True),
        sa.Column("include_history", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_device_assignments"),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name="fk_device_assignments_device_id_devices",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_device_assignments_user_id_users",
            ondelete="CASCADE",
        ),
        **MYSQL_TABLE,
    )
    op.create_index(
        "ix_device_assignments_device_id_ended_ts", "device_assignments", ["device_id", "ended_ts"]
    )
    op.create_index("ix_device_assignments_user_id", "device_assignments", ["user_id"])
    # What owners see today stays visible: their open period includes the history.
    op.execute(
        sa.text(
            "INSERT INTO device_assignments (device_id, user_id, started_ts, include_history) "
            "SELECT id, owner_id, :now, :yes FROM devices WHERE owner_id IS NOT NULL"
        ).bindparams(now=int(time.time()), yes=True)
    )
    # Owners changed: every process's meter cache must read the periods afresh.
    op.execute("UPDATE device_epoch SET epoch = epoch + 1")


def downgrade() -> None:
    op.drop_table("device_assignments")
