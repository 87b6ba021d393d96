"""Consent registry: consents (stage-2 pseudonym only) and their events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("consent_id", sa.String(40), nullable=False, unique=True),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("consent_ref_hash", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
        sa.Column("given_by", sa.String(20), nullable=False),
        sa.Column("age_at_consent", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("data_categories", sa.JSON, nullable=False),
        sa.Column("controller", sa.String(300), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("municipalities", sa.JSON, nullable=False),
        sa.Column("given_at", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date, nullable=True),
        sa.Column("withdrawal_method", sa.String(300), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("provider_id", "consent_ref_hash", name="uq_consents_provider_ref"),
    )
    op.create_index("ix_consents_provider_pseudonym", "consents", ["provider_id", "pseudonym"])
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("consent_id", sa.Integer, sa.ForeignKey("consents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date, nullable=True),
    )
    op.create_index("ix_consent_events_consent_id", "consent_events", ["consent_id"])


def downgrade() -> None:
    op.drop_table("consent_events")
    op.drop_table("consents")
