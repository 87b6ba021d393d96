"""SQLAlchemy 2 tables. Every change here needs an alembic migration under ``app/migrations/``."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.audit import checkpoint_format as signing


class Base(DeclarativeBase):
    pass


class Client(Base):
    """A machine client (OAuth 2 client credentials), bound to one organisation."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    org_type: Mapped[str] = mapped_column(String(32), nullable=False)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    scopes: Mapped[str] = mapped_column(String(400), nullable=False)
    #: scrypt hash of the client secret (``None`` for private_key_jwt-only clients).
    secret_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: PEM public key for ``private_key_jwt`` client authentication.
    public_key_pem: Mapped[str | None] = mapped_column(Text, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: After a rotation: the old secret's hash, accepted until ``secret_rotated_at`` + the grace.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: When it was last given a token (its last use, for ``ttp clients list``).
    last_token_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ClientAuthFailure(Base):
    """Failed client authentications per client id, for the lockout (``app.auth.lockout``). Keyed
    by the SHA-256 of the id that was tried, known or not: unknown ids lock like real ones."""

    __tablename__ = "client_auth_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ClientAssertionUse(Base):
    """``jti`` values of private_key_jwt assertions already used (replay protection)."""

    __tablename__ = "client_assertion_uses"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuditEntry(Base):
    """One audit event; append-only. ``leaf_hash`` is its RFC 9162 Merkle leaf hash."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    org_type: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[str | None] = mapped_column(String(32), index=True)
    role: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    resource: Mapped[str | None] = mapped_column(String(300))
    purpose: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[str] = mapped_column(String(20), nullable=False)
    status: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSON)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)


class AuditCheckpoint(Base):
    """A signed checkpoint the service made: the log had ``size`` entries with root ``root_hash``.
    Append-only like the log; the signed form is :class:`app.audit.checkpoint_format.Checkpoint`."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64), nullable=False)

    def as_checkpoint(self) -> signing.Checkpoint:
        stamp = self.timestamp
        if stamp.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC.
            stamp = stamp.replace(tzinfo=UTC)
        return signing.Checkpoint(
            size=int(self.size),
            root_hash=bytes(self.root_hash),
            timestamp=stamp.astimezone(UTC),
            key_id=self.key_id,
            signature=bytes(self.signature),
        )


class ConsentRecord(Base):
    """A registered consent. Holds the stage-2 pseudonym only; the provider's own reference is kept
    as a keyed hash (to refuse duplicates) and never returned. Who gave it, the age, the
    municipalities, every date and the events are sealed (``sealed``, AES-256-GCM under a data key
    wrapped by ``kek_id``, bound to the row): see :mod:`app.consents.sealing` for what stays clear."""

    __tablename__ = "consents"
    __table_args__ = (
        UniqueConstraint("provider_id", "consent_ref_hash", name="uq_consents_provider_ref"),
        Index("ix_consents_provider_pseudonym", "provider_id", "pseudonym"),
    )
    __allow_unmapped__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Keyed hash of the consent id (``TtpPseudonymiser.consent_id_hash``); the id itself is sealed.
    consent_id_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False)
    consent_ref_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    pseudonym: Mapped[str] = mapped_column(String(80), nullable=False)
    purpose: Mapped[str] = mapped_column(String(100), nullable=False)
    data_categories: Mapped[list] = mapped_column(JSON, nullable=False)
    controller: Mapped[str] = mapped_column(String(300), nullable=False)
    recipients: Mapped[list] = mapped_column(JSON, nullable=False)
    withdrawal_method: Mapped[str] = mapped_column(String(300), nullable=False)
    kek_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: The consent id, not stored: set where the row is made, found by its id or opened.
    consent_id: str = ""


class RecordBatch(Base):
    """One accepted batch, and the wrapped data key its records are encrypted under."""

    __tablename__ = "record_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    kek_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted: Mapped[int] = mapped_column(Integer, nullable=False)
    replaced: Mapped[int] = mapped_column(Integer, nullable=False)


class OutcomeRecord(Base):
    """A stored outcome record. Everything about the trajectory and its outcomes is in the
    encrypted payload; in clear only what lookups need: the provider, its record id, the stage-2
    pseudonym (for linkage and withdrawal) and month-level housekeeping dates."""

    __tablename__ = "outcome_records"
    __table_args__ = (UniqueConstraint("provider_id", "record_id", name="uq_outcome_records_provider_record"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False)
    record_id: Mapped[str] = mapped_column(String(64), nullable=False)
    pseudonym: Mapped[str] = mapped_column(String(80), nullable=False, index=True)
    consent_pk: Mapped[int] = mapped_column(ForeignKey("consents.id"), nullable=False, index=True)
    batch_pk: Mapped[int] = mapped_column(ForeignKey("record_batches.id"), nullable=False, index=True)
    format_version: Mapped[int] = mapped_column(Integer, nullable=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    #: First month (YYYY-MM) in which a pending linkage indicator can settle; NULL when settled.
    settle_month: Mapped[str | None] = mapped_column(String(7), nullable=True, index=True)
    #: Month (YYYY-MM) from which retention removes the record; NULL while the trajectory runs.
    purge_month: Mapped[str | None] = mapped_column(String(7), nullable=True, index=True)


class ReportCell(Base):
    """The aggregate store: how many trajectories have ``value`` for ``indicator`` in one cell."""

    __tablename__ = "report_cells"
    __table_args__ = (
        UniqueConstraint(
            "municipality", "period", "provider_id", "framework", "hulpvorm", "product_category", "age_band",
            "sex", "indicator", "value", name="uq_report_cells_key",
        ),
        Index("ix_report_cells_municipality_period", "municipality", "period"),
        Index("ix_report_cells_provider_period", "provider_id", "period"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality: Mapped[str] = mapped_column(String(6), nullable=False)
    period: Mapped[str] = mapped_column(String(7), nullable=False)  # quarter of the trajectory's end: 2025-Q2
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False)
    framework: Mapped[str] = mapped_column(String(20), nullable=False)
    hulpvorm: Mapped[str] = mapped_column(String(8), nullable=False)
    product_category: Mapped[str] = mapped_column(String(8), nullable=False)
    age_band: Mapped[str] = mapped_column(String(5), nullable=False)
    sex: Mapped[str] = mapped_column(String(1), nullable=False)
    indicator: Mapped[str] = mapped_column(String(40), nullable=False)
    value: Mapped[str] = mapped_column(String(20), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)


class StoreState(Base):
    """Small facts about the aggregate store, e.g. the date linkage was last settled."""

    __tablename__ = "store_state"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), nullable=False)


class ProviderNote(Base):
    """The story behind the figures: a provider's note for a municipality and period."""

    __tablename__ = "provider_notes"
    __table_args__ = (UniqueConstraint("provider_id", "municipality", "period", name="uq_provider_notes_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False)
    municipality: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ReleaseRecord(Base):
    """One release of a family for a year and framework: immutable (triggers refuse UPDATE and
    DELETE), signed, its content hash in the audit log. Owned by :mod:`app.reports.releases`."""

    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("family", "year", "framework", "sequence", name="uq_releases_sequence"),
        UniqueConstraint("family", "year", "framework", "slot", name="uq_releases_slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    family: Mapped[str] = mapped_column(String(80), nullable=False)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    framework: Mapped[str] = mapped_column(String(20), nullable=False)
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    slot: Mapped[date] = mapped_column(Date, nullable=False)  # the calendar date it was made for
    periods: Mapped[str] = mapped_column(Text, nullable=False)  # JSON list of the periods it publishes
    generation: Mapped[int] = mapped_column(Integer, nullable=False)  # of the aggregate store it read
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    config_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    figures: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: withheld cells per indicator and why
    content: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # zlib JSON: every published cell
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    base: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # zlib JSON: the counts it was cut from
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class JobLease(Base):
    """Who runs a periodic job now: one holder across every process and pod, until ``until``; and
    the newest period a scheduled run claimed (``period_start``), which is never claimed again."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(80), nullable=False)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserAccount(Base):
    """A person who logs in to the web pages, bound to one organisation like a machine client.
    Owned by :mod:`app.accounts`: the password is an argon2id hash, the TOTP secret is sealed with
    a key-encryption key (AES-256-GCM, bound to the account id), failures are counted here."""

    __tablename__ = "user_accounts"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_user_accounts_oidc"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    org_type: Mapped[str] = mapped_column(String(32), nullable=False)
    org_id: Mapped[str] = mapped_column(String(32), nullable=False)
    #: argon2id hash (PHC string); None for an account that logs in only through OIDC.
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    #: nonce || AES-256-GCM(TOTP secret), under the key-encryption key ``totp_kek_id``.
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The last RFC 6238 time step a code was accepted for: a code is usable once.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    oidc_issuer: Mapped[str | None] = mapped_column(String(300), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WebSession(Base):
    """A login session of a :class:`UserAccount`, stored by the SHA-256 of its random id (the
    cookie carries the id, signed). ``stage`` is ``code`` between password and TOTP, ``full`` after."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_pk: Mapped[int] = mapped_column(
        ForeignKey("user_accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    stage: Mapped[str] = mapped_column(String(10), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)


class ProcessContext(Base):
    """JB/JR process context a provider records beside its figures (seed 004, kaart 2); owned by
    :mod:`app.reports.process_context`."""

    __tablename__ = "process_contexts"
    __table_args__ = (UniqueConstraint("provider_id", "municipality", "period", name="uq_process_contexts_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(8), nullable=False)
    municipality: Mapped[str] = mapped_column(String(6), nullable=False, index=True)
    period: Mapped[str] = mapped_column(String(7), nullable=False)
    framework: Mapped[str] = mapped_column(String(10), nullable=False, default="jbjr")
    working_relationship: Mapped[str | None] = mapped_column(Text, nullable=True)
    chain_cooperation: Mapped[str | None] = mapped_column(Text, nullable=True)
    issues: Mapped[str | None] = mapped_column(Text, nullable=True)
    target_group: Mapped[str | None] = mapped_column(Text, nullable=True)
    methods: Mapped[str | None] = mapped_column(Text, nullable=True)
    measurement: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
