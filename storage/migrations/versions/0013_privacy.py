"""Privacy: when a customer's personal data was erased, and the audit log of staff access.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer") as batch:
        batch.add_column(sa.Column("erased_at", UTCDateTime(), nullable=True))
    op.create_table(
        "staffaccess",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customer.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(128), nullable=False),
    )
    op.create_index("ix_staffaccess_at", "staffaccess", ["at"])
    op.create_index("ix_staffaccess_customer_id", "staffaccess", ["customer_id"])


def downgrade() -> None:
    op.drop_table("staffaccess")
    with op.batch_alter_table("customer") as batch:
        batch.drop_column("erased_at")
