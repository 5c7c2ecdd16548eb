"""Teams and escalation: agents in teams, a ticket's team and the customer's VIP tier on it,
the state of an SLA breach's escalation, the agents' @usernames, an order's VIP tier.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "teammember",
        sa.Column("team", sa.String(length=32), primary_key=True),
        sa.Column("telegram_id", sa.BigInteger(), primary_key=True),
        sa.Column("added_by", sa.BigInteger(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("team", sa.String(32), nullable=True))
        batch.add_column(sa.Column("vip_tier", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("breached_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("escalated_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("staff_acted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("agentduty") as batch:
        batch.add_column(sa.Column("username", sa.String(64), nullable=True))
    with op.batch_alter_table("order") as batch:
        batch.add_column(sa.Column("vip_tier", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order") as batch:
        batch.drop_column("vip_tier")
    with op.batch_alter_table("agentduty") as batch:
        batch.drop_column("username")
    with op.batch_alter_table("ticket") as batch:
        for column in (
            "staff_acted_at",
            "escalated_at",
            "breached_at",
            "escalation_level",
            "vip_tier",
            "team",
        ):
            batch.drop_column(column)
    op.drop_table("teammember")
