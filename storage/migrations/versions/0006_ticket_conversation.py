"""The conversation a ticket was opened from, to count what the bot resolved alone.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as table:
        table.add_column(sa.Column("conversation_id", sa.Integer(), nullable=True))
        table.create_foreign_key(
            "fk_ticket_conversation_id", "conversation", ["conversation_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket") as table:
        table.drop_constraint("fk_ticket_conversation_id", type_="foreignkey")
        table.drop_column("conversation_id")
