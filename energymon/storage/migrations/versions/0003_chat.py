"""Chat: messages of each user's conversation with the admins, and each side's read mark.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MYSQL_TABLE: dict[str, Any] = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("sender_id", ID, nullable=True),
        sa.Column("sender_name", sa.String(100), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chat_messages"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_chat_messages_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name="fk_chat_messages_sender_id_users",
            ondelete="SET NULL",
        ),
        **MYSQL_TABLE,
    )
    op.create_index("ix_chat_messages_user_id_id", "chat_messages", ["user_id", "id"])
    op.create_table(
        "chat_reads",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("reader_id", ID, nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "side", name="pk_chat_reads"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_chat_reads_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reader_id"], ["users.id"], name="fk_chat_reads_reader_id_users", ondelete="SET NULL"
        ),
        **MYSQL_TABLE,
    )


def downgrade() -> None:
    op.drop_table("chat_reads")
    op.drop_index("ix_chat_messages_user_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
