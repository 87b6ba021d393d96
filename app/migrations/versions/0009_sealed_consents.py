"""A backup reveals nothing (issue 14): a consent's personal fields and dates are sealed, its id hashed.

``given_by``, ``age_at_consent``, ``municipalities``, ``given_at``, ``valid_until``,
``withdrawn_at``, ``created_at`` and the rows of ``consent_events`` become one AES-256-GCM
envelope per consent (``kek_id``, ``wrapped_key``, ``sealed``; see :mod:`app.consents.sealing`);
``consent_id`` goes into it too, and the table keeps only its keyed hash (``consent_id_hash``), so
that the audit entries naming a consent do not join to its pseudonym.
Existing consents are sealed on upgrade under the active key-encryption key of the key directory
the settings name (``TTP_KEY_DIR``); the downgrade opens them again (it needs the same keys).
A database without consents needs no keys either way. The clear values leave the files too: SQLite
zeroes the freed pages (``secure_delete``), PostgreSQL rewrites the table (``VACUUM FULL``).
Backups and WAL archives made before the upgrade still hold them: replace them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_CLEAR_COLUMNS = ("given_by", "age_at_consent", "municipalities", "given_at", "valid_until", "withdrawn_at",
                  "created_at")


def _consents(*extra: sa.ColumnClause[Any]) -> sa.TableClause:
    return sa.table(
        "consents",
        sa.column("id", sa.Integer), sa.column("consent_id", sa.String), sa.column("provider_id", sa.String),
        sa.column("consent_ref_hash", sa.String), sa.column("pseudonym", sa.String), *extra,
    )


def _clear_columns() -> list[sa.ColumnClause[Any]]:
    return [sa.column("given_by", sa.String), sa.column("age_at_consent", sa.Integer),
            sa.column("municipalities", sa.JSON), sa.column("given_at", sa.Date), sa.column("valid_until", sa.Date),
            sa.column("withdrawn_at", sa.DateTime(timezone=True)), sa.column("created_at", sa.DateTime(timezone=True))]


def _sealed_columns() -> list[sa.ColumnClause[Any]]:
    return [sa.column("consent_id_hash", sa.String), sa.column("kek_id", sa.String), sa.column("wrapped_key", sa.LargeBinary), sa.column("sealed", sa.LargeBinary)]


_EVENTS = sa.table("consent_events", sa.column("id", sa.Integer), sa.column("consent_id", sa.Integer),
                   sa.column("type", sa.String), sa.column("at", sa.DateTime(timezone=True)),
                   sa.column("valid_until", sa.Date))


def _hasher(keyring: Any) -> Any:
    from app.pseudonyms import TtpPseudonymiser

    return TtpPseudonymiser(keyring.pseudonym_key())


def _keyring() -> Any:
    from app.crypto.keyring import Keyring, KeyringError
    from app.settings import Settings

    directory = Settings().resolved_key_dir
    try:
        return Keyring.open(directory)
    except KeyringError as exc:
        raise RuntimeError(f"migration 0009 seals the stored consents and needs the service's keys: {exc}") from None


class _Row:
    """The columns sealing binds, and the three it sets."""

    def __init__(self, row: Any, consent_id_hash: str) -> None:
        self.consent_id_hash, self.provider_id = consent_id_hash, row.provider_id
        self.pseudonym, self.consent_ref_hash = row.pseudonym, row.consent_ref_hash
        self.kek_id: str | None = None
        self.wrapped_key: bytes | None = None
        self.sealed: bytes | None = None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _create_events_table() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("consent_id", sa.Integer, sa.ForeignKey("consents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date, nullable=True),
    )
    op.create_index("ix_consent_events_consent_id", "consent_events", ["consent_id"])


def upgrade() -> None:
    from app.consents.sealing import Event, SealedFields, new_sealer, seal_onto

    if op.get_bind().dialect.name == "sqlite":
        # The clear columns' pages are freed below: zero them, so the file keeps no copy.
        op.execute("PRAGMA secure_delete=ON")
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("consent_id_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("kek_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("sealed", sa.LargeBinary, nullable=True))
    connection = op.get_bind()
    table = _consents(*_clear_columns(), *_sealed_columns())
    rows = connection.execute(sa.select(table)).all()
    if rows:
        keyring = _keyring()
        sealer, hasher = new_sealer(keyring.active_kek()), _hasher(keyring)
        events: dict[int, list[Any]] = {}
        for event in connection.execute(sa.select(_EVENTS).order_by(_EVENTS.c.at, _EVENTS.c.id)).all():
            events.setdefault(event.consent_id, []).append(event)
        for row in rows:
            sealed_events = [Event(type=e.type, at=_aware(e.at), valid_until=e.valid_until)
                             for e in events.get(row.id, [])]
            if row.withdrawn_at is not None and not any(e.type == "withdrawn" for e in sealed_events):
                sealed_events.append(Event(type="withdrawn", at=_aware(row.withdrawn_at)))
            fields = SealedFields(
                consent_id=row.consent_id, given_by=row.given_by, age_at_consent=int(row.age_at_consent),
                municipalities=tuple(row.municipalities), given_at=row.given_at, valid_until=row.valid_until,
                created_at=_aware(row.created_at), events=tuple(sealed_events),
            )
            target = _Row(row, hasher.consent_id_hash(row.consent_id))
            seal_onto(target, sealer, fields)
            connection.execute(sa.update(table).where(table.c.id == row.id).values(
                consent_id_hash=target.consent_id_hash, kek_id=target.kek_id, wrapped_key=target.wrapped_key,
                sealed=target.sealed))
    op.drop_index("ix_consent_events_consent_id", table_name="consent_events")
    op.drop_table("consent_events")
    with op.batch_alter_table("consents") as batch:
        for name in _CLEAR_COLUMNS:
            batch.drop_column(name)
        batch.drop_column("consent_id")
        batch.alter_column("consent_id_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_consents_consent_id_hash", ["consent_id_hash"])
        batch.alter_column("kek_id", existing_type=sa.String(64), nullable=False)
        batch.alter_column("wrapped_key", existing_type=sa.LargeBinary, nullable=False)
        batch.alter_column("sealed", existing_type=sa.LargeBinary, nullable=False)
        batch.create_index("ix_consents_kek_id", ["kek_id"])
    if op.get_bind().dialect.name == "postgresql":
        # DROP COLUMN leaves the old values in the table's files (a file-level backup or replica
        # would keep them): rewrite the table so that only the sealed rows remain.
        with op.get_context().autocommit_block():
            op.execute("VACUUM FULL consents")


def downgrade() -> None:
    from app.consents.sealing import open_fields
    from app.crypto.envelope import Unsealer

    with op.batch_alter_table("consents") as batch:
        batch.drop_index("ix_consents_kek_id")
        batch.add_column(sa.Column("consent_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("given_by", sa.String(20), nullable=True))
        batch.add_column(sa.Column("age_at_consent", sa.Integer, nullable=True))
        batch.add_column(sa.Column("municipalities", sa.JSON, nullable=True))
        batch.add_column(sa.Column("given_at", sa.Date, nullable=True))
        batch.add_column(sa.Column("valid_until", sa.Date, nullable=True))
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    _create_events_table()
    connection = op.get_bind()
    table = _consents(*_clear_columns(), *_sealed_columns())
    rows = connection.execute(sa.select(table)).all()
    if rows:
        unsealer = Unsealer(_keyring().keks())
        for row in rows:
            fields = open_fields(unsealer, row)
            connection.execute(sa.update(table).where(table.c.id == row.id).values(
                consent_id=fields.consent_id, given_by=fields.given_by, age_at_consent=fields.age_at_consent,
                municipalities=list(fields.municipalities), given_at=fields.given_at,
                valid_until=fields.valid_until, withdrawn_at=fields.withdrawn_at, created_at=fields.created_at))
            for event in fields.events:
                connection.execute(sa.insert(_EVENTS).values(consent_id=row.id, type=event.type, at=event.at,
                                                             valid_until=event.valid_until))
    with op.batch_alter_table("consents") as batch:
        for name, type_ in (("consent_id", sa.String(40)), ("given_by", sa.String(20)), ("age_at_consent", sa.Integer()),
                            ("municipalities", sa.JSON()), ("given_at", sa.Date()),
                            ("created_at", sa.DateTime(timezone=True))):
            batch.alter_column(name, existing_type=type_, nullable=False)
        batch.create_unique_constraint("consents_consent_id_key", ["consent_id"])
        batch.drop_column("sealed")
        batch.drop_column("wrapped_key")
        batch.drop_column("kek_id")
        batch.drop_column("consent_id_hash")
