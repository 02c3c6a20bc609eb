"""Indexes for the alert list: newest hour first, overall, per device and unacknowledged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The list pages by (hour_ts, id) descending; each index serves one way of filtering it.
INDEXES = {
    "ix_alerts_hour_ts_id": ["hour_ts", "id"],
    "ix_alerts_device_id_hour_ts_id": ["device_id", "hour_ts", "id"],
    "ix_alerts_acknowledged_at_hour_ts_id": ["acknowledged_at", "hour_ts", "id"],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "alerts", columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, "alerts")
