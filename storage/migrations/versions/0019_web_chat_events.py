"""Web chat: the messages on each web visitor's page.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchatevent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webchatevent_visitor_id", "webchatevent", ["visitor_id"])


def downgrade() -> None:
    op.drop_table("webchatevent")
