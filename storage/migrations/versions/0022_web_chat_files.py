"""Web chat: photos and files on visitors' pages (uploaded by visitors, posted by agents).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webchatfile",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("visitor_id", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_webchatfile_visitor_id", "webchatfile", ["visitor_id"])
    with op.batch_alter_table("webchatevent") as table:
        table.add_column(sa.Column("file_id", sa.Integer(), nullable=True))
        table.add_column(sa.Column("media", sa.String(16), nullable=True))
        table.add_column(sa.Column("file_name", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webchatevent") as table:
        table.drop_column("file_name")
        table.drop_column("media")
        table.drop_column("file_id")
    op.drop_table("webchatfile")
