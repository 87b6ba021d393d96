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
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import consent
from app.models import ConsentEventRecord, ConsentRecord
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
_COVERAGE_COLUMNS = ("id", "consent_id", "provider_id", "consent_ref_hash", "pseudonym", "given_by", "age_at_consent",
                     "purpose", "municipalities", "given_at", "valid_until", "withdrawal_method")


def to_model(row: Any, events: Iterable[Any]) -> consent.Consent:
    """The pure consent model of a stored consent (an ORM object or a plain row) and its events.

    A row holding only the coverage columns gives a model with empty descriptive fields."""
    return consent.Consent(
        consent_ref=row.consent_ref_hash,
        provider_id=row.provider_id,
        given_by=_GIVEN_BY[row.given_by],
        age_at_consent=row.age_at_consent,
        purpose=row.purpose,
        data_categories=tuple(getattr(row, "data_categories", ())),
        controller=getattr(row, "controller", ""),
        recipients=tuple(getattr(row, "recipients", ())),
        municipalities=tuple(row.municipalities),
        given_at=row.given_at,
        valid_until=row.valid_until,
        withdrawal_method=row.withdrawal_method,
        events=tuple(
            consent.ConsentEvent(type=_EVENT_TYPES[e.type], at=_aware(e.at), valid_until=e.valid_until)
            for e in sorted(events, key=lambda e: (e.at, e.id or 0))
        ),
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _events(session: Session, row: ConsentRecord) -> list[ConsentEventRecord]:
    return list(session.execute(select(ConsentEventRecord).where(ConsentEventRecord.consent_id == row.id)).scalars())


def register(
    session: Session,
    *,
    provider_id: str,
    new: NewConsent,
    pseudonymiser: TtpPseudonymiser,
    configuration: PrivacyConfiguration,
    known_municipalities: Iterable[str],
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
    _refuse_existing(session, provider_id, ref_hash)
    now = datetime.now(UTC)
    row = ConsentRecord(
        consent_id="cns-" + secrets.token_urlsafe(16),
        provider_id=provider_id,
        consent_ref_hash=ref_hash,
        pseudonym=pseudonym,
        given_by=str(model.given_by),
        age_at_consent=model.age_at_consent,
        purpose=model.purpose,
        data_categories=list(model.data_categories),
        controller=model.controller,
        recipients=list(model.recipients),
        municipalities=list(model.municipalities),
        given_at=model.given_at,
        valid_until=model.valid_until,
        withdrawal_method=model.withdrawal_method,
        withdrawn_at=None,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # A registration of the same reference committed meanwhile (PostgreSQL lets the two race to
        # the unique constraint; SQLite's writer lock makes the second see the first): 409 on both.
        _refuse_existing(session, provider_id, ref_hash)
        raise
    session.add(ConsentEventRecord(consent_id=row.id, type=consent.ConsentEventType.GIVEN.value,
                                   at=datetime.combine(model.given_at, time.min, UTC), valid_until=model.valid_until))
    session.flush()
    return row


def _refuse_existing(session: Session, provider_id: str, ref_hash: str) -> None:
    """Raise ConsentRefused when the provider registered this reference before."""
    existing = session.execute(
        select(ConsentRecord).where(ConsentRecord.provider_id == provider_id,
                                    ConsentRecord.consent_ref_hash == ref_hash)
    ).scalar_one_or_none()
    if existing is not None:
        raise ConsentRefused(
            "consent-exists",
            f"this provider registered consent_ref before, as consent {existing.consent_id}",
            consent_id=existing.consent_id,
        )


def find(session: Session, *, provider_id: str, consent_id: str) -> ConsentRecord:
    row = session.execute(select(ConsentRecord).where(ConsentRecord.consent_id == consent_id)).scalar_one_or_none()
    if row is None or row.provider_id != provider_id:
        raise ConsentNotFound(consent_id)
    return row


def status(session: Session, row: ConsentRecord, today: date | None = None) -> consent.ConsentStatus:
    return consent.status_at(to_model(row, _events(session, row)), today or _today())


def withdraw(session: Session, row: ConsentRecord, at: datetime | None = None) -> bool:
    """Mark ``row`` withdrawn (final) and record the event; False when it already was (safe to retry)."""
    if row.withdrawn_at is not None:
        return False
    at = at or datetime.now(UTC)
    consent.withdraw(to_model(row, _events(session, row)), at)  # the library's rules (raises if final)
    row.withdrawn_at = at
    session.add(ConsentEventRecord(consent_id=row.id, type=consent.ConsentEventType.WITHDRAWN.value, at=at))
    session.flush()
    return True


class ConsentBook:
    """The consents one batch of one provider refers to, loaded once."""

    def __init__(self, session: Session, provider_id: str, consent_ids: Iterable[str]) -> None:
        ids = sorted(set(consent_ids))
        self.provider_id = provider_id
        self._rows: dict[str, Any] = {}
        self._models: dict[str, consent.Consent] = {}
        consents, events_table = ConsentRecord.__table__, ConsentEventRecord.__table__
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            # Plain rows, not ORM objects: a batch may name thousands of consents.
            rows = session.execute(
                select(*(consents.c[name] for name in _COVERAGE_COLUMNS))
                .where(consents.c.consent_id.in_(chunk), consents.c.provider_id == provider_id)
            ).all()
            events: dict[int, list[Any]] = {r.id: [] for r in rows}
            if events:
                for event in session.execute(
                    select(events_table).where(events_table.c.consent_id.in_(list(events)))
                ).all():
                    events[event.consent_id].append(event)
            for row in rows:
                self._rows[row.consent_id] = row
                self._models[row.consent_id] = to_model(row, events[row.id])

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
