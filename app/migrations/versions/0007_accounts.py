"""Accounts for the web pages (people, sessions) and the JB/JR process context.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.String(40), nullable=False, unique=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("org_type", sa.String(32), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=True),
        sa.Column("totp_sealed", sa.LargeBinary, nullable=True),
        sa.Column("totp_kek_id", sa.String(64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("oidc_issuer", sa.String(300), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_user_accounts_oidc"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("account_pk", sa.Integer, sa.ForeignKey("user_accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("stage", sa.String(10), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_web_sessions_account_pk", "web_sessions", ["account_pk"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "process_contexts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("municipality", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("framework", sa.String(10), nullable=False),
        sa.Column("working_relationship", sa.Text, nullable=True),
        sa.Column("chain_cooperation", sa.Text, nullable=True),
        sa.Column("issues", sa.Text, nullable=True),
        sa.Column("target_group", sa.Text, nullable=True),
        sa.Column("methods", sa.Text, nullable=True),
        sa.Column("measurement", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider_id", "municipality", "period", name="uq_process_contexts_key"),
    )
    op.create_index("ix_process_contexts_municipality", "process_contexts", ["municipality"])


def downgrade() -> None:
    op.drop_table("process_contexts")
    op.drop_table("web_sessions")
    op.drop_table("user_accounts")
