"""Record ingestion: batches with wrapped data keys, encrypted records, the aggregate store.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

CELL_KEY = ("municipality", "period", "provider_id", "framework", "hulpvorm", "product_category", "age_band",
            "sex", "indicator", "value")


def upgrade() -> None:
    op.create_table(
        "record_batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.String(40), nullable=False, unique=True),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("replaced", sa.Integer, nullable=False),
    )
    op.create_index("ix_record_batches_provider_id", "record_batches", ["provider_id"])
    op.create_index("ix_record_batches_kek_id", "record_batches", ["kek_id"])
    op.create_table(
        "outcome_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("pseudonym", sa.String(80), nullable=False),
        sa.Column("consent_pk", sa.Integer, sa.ForeignKey("consents.id"), nullable=False),
        sa.Column("batch_pk", sa.Integer, sa.ForeignKey("record_batches.id"), nullable=False),
        sa.Column("format_version", sa.Integer, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("settle_month", sa.String(7), nullable=True),
        sa.Column("purge_month", sa.String(7), nullable=True),
        sa.UniqueConstraint("provider_id", "record_id", name="uq_outcome_records_provider_record"),
    )
    for column in ("pseudonym", "consent_pk", "batch_pk", "settle_month", "purge_month"):
        op.create_index(f"ix_outcome_records_{column}", "outcome_records", [column])
    op.create_table(
        "report_cells",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("municipality", sa.String(6), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("provider_id", sa.String(8), nullable=False),
        sa.Column("framework", sa.String(20), nullable=False),
        sa.Column("hulpvorm", sa.String(8), nullable=False),
        sa.Column("product_category", sa.String(8), nullable=False),
        sa.Column("age_band", sa.String(5), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("indicator", sa.String(40), nullable=False),
        sa.Column("value", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.UniqueConstraint(*CELL_KEY, name="uq_report_cells_key"),
    )
    op.create_index("ix_report_cells_municipality_period", "report_cells", ["municipality", "period"])
    op.create_index("ix_report_cells_provider_period", "report_cells", ["provider_id", "period"])
    op.create_table(
        "store_state",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_state")
    op.drop_table("report_cells")
    op.drop_table("outcome_records")
    op.drop_table("record_batches")
