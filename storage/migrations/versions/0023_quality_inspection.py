"""Quality inspection (质检) reviews, and the claims of jobs done once a period.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qareview",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("ticket.id"), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("reviewer_id", sa.BigInteger(), nullable=True),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("sampled_at", UTCDateTime(), nullable=False),
        sa.Column("greeting", sa.Integer(), nullable=True),
        sa.Column("accuracy", sa.Integer(), nullable=True),
        sa.Column("courtesy", sa.Integer(), nullable=True),
        sa.Column("compliance", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("scored_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("ticket_id"),
    )
    op.create_index("ix_qareview_agent_id", "qareview", ["agent_id"])
    op.create_index("ix_qareview_scored_at", "qareview", ["scored_at"])
    op.create_table(
        "jobrun",
        sa.Column("key", sa.String(length=40), primary_key=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("jobrun")
    op.drop_index("ix_qareview_scored_at", table_name="qareview")
    op.drop_index("ix_qareview_agent_id", table_name="qareview")
    op.drop_table("qareview")
