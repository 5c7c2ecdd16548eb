"""The record: a ticket event keeps the kind and Telegram file id of a message's file; a ticket
keeps its outcome, the cause of the problem and the remedy given.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticketevent") as batch:
        batch.add_column(sa.Column("media", sa.String(16), nullable=True))
        batch.add_column(sa.Column("file_id", sa.String(255), nullable=True))
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("cause", sa.String(32), nullable=True))
        batch.add_column(sa.Column("remedy", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("remedy")
        batch.drop_column("cause")
    with op.batch_alter_table("ticketevent") as batch:
        batch.drop_column("file_id")
        batch.drop_column("media")
