"""Releases: what was published, for which family and periods, from which snapshot; immutable.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

POSTGRES_TRIGGERS = """
CREATE FUNCTION releases_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'releases are immutable: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER releases_no_update BEFORE UPDATE OR DELETE ON releases
    FOR EACH ROW EXECUTE FUNCTION releases_immutable();
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION releases_immutable();
"""


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("release_id", sa.String(40), nullable=False, unique=True),
        sa.Column("family", sa.String(80), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("framework", sa.String(20), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("slot", sa.Date, nullable=False),
        sa.Column("periods", sa.Text, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("config_sha256", sa.String(64), nullable=False),
        sa.Column("figures", sa.Text, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("base", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("family", "year", "framework", "sequence", name="uq_releases_sequence"),
        sa.UniqueConstraint("family", "year", "framework", "slot", name="uq_releases_slot"),
    )
    op.create_table(
        "job_leases",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("holder", sa.String(80), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_TRIGGERS)
    else:
        op.execute("CREATE TRIGGER releases_no_update BEFORE UPDATE ON releases "
                   "BEGIN SELECT RAISE(ABORT, 'releases are immutable: UPDATE refused'); END")
        op.execute("CREATE TRIGGER releases_no_delete BEFORE DELETE ON releases "
                   "BEGIN SELECT RAISE(ABORT, 'releases are immutable: DELETE refused'); END")


def downgrade() -> None:
    op.drop_table("job_leases")
    op.drop_table("releases")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS releases_immutable()")
