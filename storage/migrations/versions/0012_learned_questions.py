"""Questions learned from customers' confirmed wordings, waiting for an admin's approval.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learnedquestion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("sources", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_confirmed_at", UTCDateTime(), nullable=False),
        sa.Column("last_confirmed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.UniqueConstraint("entry_id", "key"),
    )
    op.create_index("ix_learnedquestion_status", "learnedquestion", ["status"])
    op.create_table(
        "learnedconfirmation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "question_id", sa.Integer(), sa.ForeignKey("learnedquestion.id"), nullable=False
        ),
        sa.Column("evidence", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("question_id", "evidence"),
    )


def downgrade() -> None:
    op.drop_table("learnedconfirmation")
    op.drop_index("ix_learnedquestion_status", "learnedquestion")
    op.drop_table("learnedquestion")
