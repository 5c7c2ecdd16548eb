"""Surge alerts, one per subject and quiet period.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "surgealert",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.Column("alerted_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("subject", "period"),
    )


def downgrade() -> None:
    op.drop_table("surgealert")
