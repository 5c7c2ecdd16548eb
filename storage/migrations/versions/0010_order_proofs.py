"""Order proofs and wrong tries, kept across restarts (the lock-out included).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orderproof",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("proven_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_orderproof_customer_id", "orderproof", ["customer_id"])
    op.create_table(
        "orderprooffailure",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("order_number", sa.String(64), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_orderprooffailure_customer_id", "orderprooffailure", ["customer_id"])
    op.create_index("ix_orderprooffailure_failed_at", "orderprooffailure", ["failed_at"])


def downgrade() -> None:
    op.drop_table("orderprooffailure")
    op.drop_table("orderproof")
