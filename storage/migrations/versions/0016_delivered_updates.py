"""Telegram updates handled through the webhook, so that one posted again is not handled twice.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveredupdate",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("handled_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_deliveredupdate_handled_at", "deliveredupdate", ["handled_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveredupdate_handled_at", table_name="deliveredupdate")
    op.drop_table("deliveredupdate")
