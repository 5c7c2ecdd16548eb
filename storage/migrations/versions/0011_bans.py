"""Customers banned by an admin.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customerban",
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), primary_key=True),
        sa.Column("banned_by", sa.BigInteger(), nullable=False),
        sa.Column("banned_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("customerban")
