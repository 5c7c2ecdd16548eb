"""Agents on duty, and when an unassigned ticket was last announced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agentduty",
        sa.Column("telegram_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("last_assigned_at", UTCDateTime(), nullable=True),
    )
    with op.batch_alter_table("ticket") as table:
        table.add_column(sa.Column("announced_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as table:
        table.drop_column("announced_at")
    op.drop_table("agentduty")
