"""Client lifecycle and limits: secret rotation with a grace period, last use, and the lockout
after failed client authentications (kept in the database so it holds across processes).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.String(300), nullable=True))
        batch.add_column(sa.Column("secret_rotated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_token_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "client_auth_failures",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_client_auth_failures_last_failure_at", "client_auth_failures", ["last_failure_at"])


def downgrade() -> None:
    op.drop_table("client_auth_failures")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("last_token_at")
        batch.drop_column("secret_rotated_at")
        batch.drop_column("previous_secret_hash")
