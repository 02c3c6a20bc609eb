"""Sessions (server-side revocation), and ids that SQLite never hands out twice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}
# Tables whose ids name something to the outside (tokens, meters, alerts, chat messages).
NO_REUSE = ("users", "devices", "alerts", "chat_messages")


def _set_autoincrement(on: bool) -> None:
    """SQLite only: rebuild the tables with (or without) AUTOINCREMENT, keeping their rows.

    MariaDB's AUTO_INCREMENT already never goes back. storage.migrate runs this with foreign
    keys off, so dropping the old copy of a table does not cascade into its children.
    """
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in NO_REUSE:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": on}
        ):
            pass


def upgrade() -> None:
    _set_autoincrement(True)
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_sessions_user_id_users", ondelete="CASCADE"
        ),
        **MYSQL_TABLE,
    )
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])
    op.create_index("ix_sessions_user_id_created_at", "sessions", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_table("sessions")
    _set_autoincrement(False)
