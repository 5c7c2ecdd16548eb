"""What `kefu kb eval` measured of the configured knowledge base, for the console.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledgeevaluation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("cases", sa.String(200), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("figures", sa.Text(), nullable=False),
    )
    op.create_index("ix_knowledgeevaluation_evaluated_at", "knowledgeevaluation", ["evaluated_at"])


def downgrade() -> None:
    op.drop_table("knowledgeevaluation")
