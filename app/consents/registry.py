"""The consent registry: storing consents and answering "may this record flow?".

Two entry points every consumer uses:

- :class:`ConsentBook` — loads the consents a batch names and says, per record, why it may not
  flow (``None`` when it may). Ingestion calls it for every record.
- :func:`withdraw` — marks a consent withdrawn and records the event. It does not touch
  records: the use case :func:`app.consents.withdrawal.withdraw_consent` calls it and then
  removes the person's records and counts in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import consent
from app.consents.sealing import ConsentKeys, Event, SealedFields, new_sealer, open_fields, rewrap_key, seal_onto
from app.crypto.envelope import Kek
from app.models import ConsentRecord
from app.privacy.configuration import PrivacyConfiguration
from app.pseudonyms import InvalidPseudonym, TtpPseudonymiser

WITHDRAWAL_METHOD = (
    "The youth or parents ask the provider; the provider withdraws the consent at the TTP "
    "(POST /v1/consents/{consent_id}/withdraw). Withdrawal takes effect at once."
)

class ConsentNotFound(Exception):
    """No such consent for this provider (another provider's consent is 'not found' too)."""


class ConsentRefused(Exception):
    """A consent problem that is a conflict (409), with a stable problem kind."""

    def __init__(self, kind: str, detail: str, consent_id: str | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.consent_id = consent_id


class InvalidConsent(Exception):
    """The consent request has errors; ``errors`` lists every one as {field, reason}."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid fields")
        self.errors = errors


@dataclass(frozen=True)
class NewConsent:
    consent_ref: str
    pseudonym: str  # stage 1, as received
    given_by: str
    age_at_consent: int
    purpose: str
    municipalities: list[str]
    given_at: date
    valid_until: date | None


def _today() -> date:
    return datetime.now(UTC).date()


_GIVEN_BY = {g.value: g for g in consent.GivenBy}
_EVENT_TYPES = {t.value: t for t in consent.ConsentEventType}
#: The columns coverage checks need (not the descriptive ones: controller, recipients ...).
_COVERAGE_COLUMNS = ("id", "consent_id_hash", "provider_id", "consent_ref_hash", "pseudonym", "purpose",
                     "withdrawal_method", "kek_id", "wrapped_key", "sealed")


class Coverage(NamedTuple):
    """A consent row of the coverage columns, as a plain named tuple: a database row answers each
    attribute through a Python-level look-up (about a microsecond here), and the consent book
    reads a dozen per record."""

    id: int
    consent_id_hash: str
    provider_id: str
    consent_ref_hash: str
    pseudonym: str
    purpose: str
    withdrawal_method: str
    kek_id: str
    wrapped_key: bytes
    sealed: bytes


assert Coverage._fields == _COVERAGE_COLUMNS


def to_model(row: Any, fields: SealedFields) -> consent.Consent:
    """The pure consent model of a stored consent (an ORM object or a plain row) and its opened
    sealed fields. A row holding only the coverage columns gives empty descriptive fields."""
    # A plain row answers a missing column with an exception built at some cost (thousands per
    # batch, through its mapping's ``get`` too): ask a plain row for its column names first, an ORM
    # object for its attributes.
    names = getattr(row, "_fields", None)
    if names is not None:
        data_categories, controller, recipients = (
            row.data_categories if "data_categories" in names else (), row.controller if "controller" in names else "",
            row.recipients if "recipients" in names else ())
    else:
        data_categories, controller, recipients = (getattr(row, "data_categories", ()), getattr(row, "controller", ""),
                                                   getattr(row, "recipients", ()))
    return _model(row, fields, data_categories, controller, recipients)


def _model(row: Any, fields: SealedFields, data_categories: Iterable[str], controller: str,
           recipients: Iterable[str]) -> consent.Consent:
    return consent.Consent(
        consent_ref=row.consent_ref_hash,
        provider_id=row.provider_id,
        given_by=_GIVEN_BY[fields.given_by],
        age_at_consent=fields.age_at_consent,
        purpose=row.purpose,
        data_categories=tuple(data_categories),
        controller=controller,
        recipients=tuple(recipients),
        municipalities=fields.municipalities,
        given_at=fields.given_at,
        valid_until=fields.valid_until,
        withdrawal_method=row.withdrawal_method,
        events=tuple(
            consent.ConsentEvent(type=_EVENT_TYPES[e.type], at=_aware(e.at), valid_until=e.valid_until)
            for e in sorted(fields.events, key=lambda e: _aware(e.at))
        ),
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def fields_of(row: Any, keys: ConsentKeys) -> SealedFields:
    """The sealed fields of a stored consent, opened (once per process while it stays the same)."""
    return open_fields(keys.unsealer, row, keys.opened)


def coverage_model(row: Any, keys: ConsentKeys) -> consent.Consent:
    """The consent model of a row holding the coverage columns (``_COVERAGE_COLUMNS``), as
    :func:`to_model` builds it, kept beside the opened fields while the row stays the same."""
    entry = keys.opened.entry(row, keys.unsealer)
    model_key = (row.purpose, row.withdrawal_method)
    kept = entry.model
    if kept is not None and kept[0] == model_key:
        return cast(consent.Consent, kept[1])
    model = _model(row, entry.fields, (), "", ())
    entry.model = (model_key, model)
    return model


def new_fields(consent_id: str, model: consent.Consent, created_at: datetime) -> SealedFields:
    """What a new consent seals: its id, its personal fields and its ``given`` event."""
    return SealedFields(
        consent_id=consent_id, given_by=str(model.given_by), age_at_consent=model.age_at_consent,
        municipalities=tuple(model.municipalities), given_at=model.given_at, valid_until=model.valid_until,
        created_at=created_at,
        events=(Event(type=consent.ConsentEventType.GIVEN.value, at=datetime.combine(model.given_at, time.min, UTC),
                      valid_until=model.valid_until),),
    )


def register(
    session: Session,
    *,
    provider_id: str,
    new: NewConsent,
    pseudonymiser: TtpPseudonymiser,
    configuration: PrivacyConfiguration,
    known_municipalities: Iterable[str],
    keys: ConsentKeys,
    today: date | None = None,
) -> ConsentRecord:
    """Validate and store a consent; raises InvalidConsent (400) or ConsentRefused (409)."""
    today = today or _today()
    errors: list[dict[str, Any]] = []
    try:
        pseudonym = pseudonymiser.stage2(new.pseudonym)
    except InvalidPseudonym as exc:
        errors.append({"field": "pseudonym", "reason": exc.reason})
        pseudonym = ""
    try:
        given_by = consent.GivenBy(new.given_by)
    except ValueError:
        given_by = new.given_by  # type: ignore[assignment]  # reported by the rules below
    model = consent.Consent(
        consent_ref=new.consent_ref,
        provider_id=provider_id,
        given_by=given_by,
        age_at_consent=new.age_at_consent,
        purpose=new.purpose,
        data_categories=tuple(configuration.data_categories.processed),
        controller=configuration.controller.name,
        recipients=tuple(r.name for r in configuration.recipients),
        municipalities=tuple(new.municipalities),
        given_at=new.given_at,
        valid_until=new.valid_until,
        withdrawal_method=WITHDRAWAL_METHOD,
    )
    violations = consent.validate_new_consent(
        model, today=today, allowed_purposes=configuration.purpose_ids(),
        known_municipalities=frozenset(known_municipalities),
    )
    errors.extend({"field": v.field, "reason": v.reason} for v in violations)
    if errors:
        raise InvalidConsent(errors)

    ref_hash = pseudonymiser.reference_hash(provider_id, new.consent_ref)
    _refuse_existing(session, provider_id, ref_hash, keys)
    now = datetime.now(UTC)
    consent_id = "cns-" + secrets.token_urlsafe(16)
    row = ConsentRecord(
        consent_id_hash=pseudonymiser.consent_id_hash(consent_id),
        provider_id=provider_id,
        consent_ref_hash=ref_hash,
        pseudonym=pseudonym,
        purpose=model.purpose,
        data_categories=list(model.data_categories),
        controller=model.controller,
        recipients=list(model.recipients),
        withdrawal_method=model.withdrawal_method,
    )
    row.consent_id = consent_id
    fields = new_fields(consent_id, model, now)
    seal_onto(row, new_sealer(keys.active_kek), fields)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A registration of the same reference committed meanwhile (PostgreSQL lets the two race to
        # the unique constraint; SQLite's writer lock makes the second see the first): 409 on both.
        _refuse_existing(session, provider_id, ref_hash, keys)
        raise
    session.flush()
    keys.opened.remember(row, fields, keys.active_kek, keys.unsealer)
    return row


def _refuse_existing(session: Session, provider_id: str, ref_hash: str, keys: ConsentKeys) -> None:
    """Raise ConsentRefused when the provider registered this reference before."""
    existing = session.execute(
        select(ConsentRecord).where(ConsentRecord.provider_id == provider_id,
                                    ConsentRecord.consent_ref_hash == ref_hash)
    ).scalar_one_or_none()
    if existing is not None:
        consent_id = fields_of(existing, keys).consent_id
        raise ConsentRefused(
            "consent-exists",
            f"this provider registered consent_ref before, as consent {consent_id}",
            consent_id=consent_id,
        )


def find(session: Session, *, provider_id: str, consent_id: str, pseudonymiser: TtpPseudonymiser) -> ConsentRecord:
    row = session.execute(select(ConsentRecord).where(
        ConsentRecord.consent_id_hash == pseudonymiser.consent_id_hash(consent_id))).scalar_one_or_none()
    if row is None or row.provider_id != provider_id:
        raise ConsentNotFound(consent_id)
    row.consent_id = consent_id
    return row


def status(row: ConsentRecord, keys: ConsentKeys, today: date | None = None) -> consent.ConsentStatus:
    return consent.status_at(to_model(row, fields_of(row, keys)), today or _today())


def is_withdrawn(row: ConsentRecord, keys: ConsentKeys) -> bool:
    return fields_of(row, keys).withdrawn_at is not None


def withdraw(row: ConsentRecord, keys: ConsentKeys, at: datetime | None = None) -> bool:
    """Mark ``row`` withdrawn (final) and record the event, resealed under a new data key; False
    when it already was (safe to retry)."""
    fields = fields_of(row, keys)
    if fields.withdrawn_at is not None:
        return False
    at = at or datetime.now(UTC)
    consent.withdraw(to_model(row, fields), at)  # the library's rules (raises if final)
    withdrawn = fields.with_event(Event(type=consent.ConsentEventType.WITHDRAWN.value, at=at))
    seal_onto(row, new_sealer(keys.active_kek), withdrawn)  # a new data key: a sealer is never reused
    keys.opened.remember(row, withdrawn, keys.active_kek, keys.unsealer)
    return True


def rewrap_all(session: Session, keks: dict[str, Kek], active: Kek) -> int:
    """Wrap every consent's data key under ``active`` (``ttp keys rewrap``); how many moved."""
    moved = session.execute(select(ConsentRecord).where(ConsentRecord.kek_id != active.key_id)).scalars().all()
    for row in moved:
        row.kek_id, row.wrapped_key = rewrap_key(keks, active, row.kek_id, row.wrapped_key)
    session.flush()
    return len(moved)


def under_kek(session: Session, kek_id: str) -> int:
    """How many consents are still sealed under ``kek_id`` (``ttp keys retire`` refuses while any are)."""
    return session.execute(select(func.count()).select_from(ConsentRecord)
                           .where(ConsentRecord.kek_id == kek_id)).scalar_one()


class ConsentBook:
    """The consents one batch of one provider refers to, loaded once and opened (the dates are
    checked exactly, after opening)."""

    def __init__(self, session: Session, provider_id: str, consent_ids: Iterable[str], keys: ConsentKeys,
                 pseudonymiser: TtpPseudonymiser) -> None:
        self._by_hash = {pseudonymiser.consent_id_hash(consent_id): consent_id for consent_id in set(consent_ids)}
        self.provider_id = provider_id
        self._keys = keys
        self._rows: dict[str, Any] = {}
        self._models: dict[str, consent.Consent] = {}
        for row in self._read(session):
            consent_id = self._by_hash[row.consent_id_hash]
            self._rows[consent_id] = row
            self._models[consent_id] = coverage_model(row, keys)

    def _read(self, session: Session) -> list[Any]:
        """The provider's rows of the batch's consents (plain rows, not ORM objects: a batch may
        name thousands of consents)."""
        consents = ConsentRecord.__table__
        ids = sorted(self._by_hash)
        out: list[Any] = []
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            # By the unique id hash alone, the provider compared here: with ``provider_id = ?``
            # beside it, SQLite chose the (provider, pseudonym) index and read all of the provider's
            # consents per chunk (16 ms instead of 3 per 500 ids at 20,000 consents, growing with
            # the provider). Another provider's consent is no consent of this one.
            rows = session.execute(
                select(*(consents.c[name] for name in _COVERAGE_COLUMNS)).where(consents.c.consent_id_hash.in_(chunk))
            ).all()
            out.extend(Coverage._make(row) for row in rows if row[2] == self.provider_id)
        return out

    def refresh(self, session: Session) -> int:
        """Read the consents again and open those that changed since the book was made (a
        withdrawal reseals its consent; a registration adds one); returns how many changed.

        Ingestion makes the book before it takes the ingestion lock, so that API processes on
        PostgreSQL open their batches' consents side by side, and refreshes it under the lock: a
        withdrawal committed by then is seen here (the record is refused), and one that commits later
        removes the person's records under the same lock after this batch is stored, as when the
        book was made under the lock (reading again is a few ms per thousand consents; opening is
        what costs)."""
        changed = 0
        fresh: dict[str, Any] = {}
        for row in self._read(session):
            consent_id = self._by_hash[row.consent_id_hash]
            fresh[consent_id] = row
            if self._rows.get(consent_id) != row:
                self._models[consent_id] = coverage_model(row, self._keys)
                changed += 1
        for consent_id in set(self._rows) - set(fresh):
            del self._models[consent_id]
            changed += 1
        self._rows = fresh
        return changed

    def row(self, consent_id: str) -> Any:
        return self._rows.get(consent_id)

    def why_not(
        self, *, consent_id: str, pseudonym: str, municipality: str, purpose: str = "outcome-monitoring",
        at: date | None = None,
    ) -> tuple[str, str] | None:
        """``None`` when the record may flow, else (problem kind, reason). ``pseudonym`` is stage 2."""
        model = self._models.get(consent_id)
        row = self._rows.get(consent_id)
        if model is None or row is None:
            return "consent-missing", f"no consent {consent_id} registered by this provider"
        if row.pseudonym != pseudonym:
            return "consent-mismatch", f"consent {consent_id} was given for another person"
        reason = consent.why_not_covered(model, municipality=municipality, purpose=purpose, at=at or _today())
        if reason is None:
            return None
        if reason == consent.NotCovered.WITHDRAWN:
            return "consent-withdrawn", f"consent {consent_id} was withdrawn; no record of this person may flow"
        return "consent-not-covering", f"consent {consent_id} does not cover this record: {reason.value}"
