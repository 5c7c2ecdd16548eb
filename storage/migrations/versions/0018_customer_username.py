"""Customers' Telegram @username, so that staff can find the person behind a ticket.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("username", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("username")
