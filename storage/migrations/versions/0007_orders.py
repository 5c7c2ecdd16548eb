"""Orders for the built-in orders provider.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("telegram_id", sa.BigInteger(), nullable=True),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("carrier", sa.String(64), nullable=True),
        sa.Column("tracking_number", sa.String(64), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("ordered_at", UTCDateTime(), nullable=False),
        sa.Column("shipped_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("expected_delivery_at", UTCDateTime(), nullable=True),
        sa.Column("late_notice_sent_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_order_number", "order", ["number"], unique=True)
    op.create_index("ix_order_telegram_id", "order", ["telegram_id"])


def downgrade() -> None:
    op.drop_table("order")
