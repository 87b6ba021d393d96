"""Periodic jobs run once per period (issue 14): ``job_leases.period_start``.

A scheduled run claims its period (the start of the interval that holds now, counted from the Unix
epoch so that every process and pod agrees) with the lease, and a period that was claimed is never
claimed again: with several workers each job runs once per period, not once per process. Leases
that ``ttp releases publish`` or ``ttp retention run`` take by hand leave the period alone.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_leases") as batch:
        batch.add_column(sa.Column("period_start", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_leases") as batch:
        batch.drop_column("period_start")
