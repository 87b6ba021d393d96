"""Provider notes: the story behind the figures, per municipality and period.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("municipality", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider_id", "municipality", "period", name="uq_provider_notes_key"),
    )
    op.create_index("ix_provider_notes_municipality", "provider_notes", ["municipality"])


def downgrade() -> None:
    op.drop_table("provider_notes")
