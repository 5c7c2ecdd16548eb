"""Broadcasts: an admin's message to a segment of customers, its scheduled messages, and the
customers' opt-out.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_by", sa.String(64), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(64), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("left_out_opted_out", sa.Integer(), nullable=False),
        sa.Column("left_out_unreachable", sa.Integer(), nullable=False),
        sa.Column("left_out_banned", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("customer") as batch:
        batch.add_column(
            sa.Column(
                "broadcasts_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("scheduledmessage") as batch:
        batch.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_scheduledmessage_broadcast_id", "broadcast", ["broadcast_id"], ["id"]
        )
        batch.create_index("ix_scheduledmessage_broadcast_id", ["broadcast_id"])


def downgrade() -> None:
    with op.batch_alter_table("scheduledmessage") as batch:
        batch.drop_index("ix_scheduledmessage_broadcast_id")
        batch.drop_constraint("fk_scheduledmessage_broadcast_id", type_="foreignkey")
        batch.drop_column("broadcast_id")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("broadcasts_opt_out")
    op.drop_table("broadcast")
