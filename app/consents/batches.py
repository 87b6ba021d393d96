"""Consents in bulk, and a provider finding its own consent again by its own reference.

``register_batch`` stores up to ``MAX_BATCH_CONSENTS`` consents atomically: every problem of every
consent is reported at once (``InvalidConsent`` with ``index``), or all are stored. A consent whose
``consent_ref`` this provider registered before, for the same person, is not an error: its
existing ``consent_id`` is given back (``created`` false), so a provider that sends the same
consents again (a rerun of ``ttp submit``, a retried request) registers nothing twice and learns
the ids it needs. The same reference for another person is an error naming the index.

``find_by_reference`` answers ``GET /v1/consents?consent_ref=``: the reference is looked up through
the keyed hash the registry stores (the reference itself is never stored), for the registering
provider only.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import consent
from app.consents.registry import (
    WITHDRAWAL_METHOD,
    ConsentNotFound,
    ConsentRefused,
    InvalidConsent,
    NewConsent,
    fields_of,
    new_fields,
    status,
)
from app.consents.sealing import ConsentKeys, SealedFields, new_sealer, seal_onto
from app.models import ConsentRecord
from app.privacy.configuration import PrivacyConfiguration
from app.pseudonyms import InvalidPseudonym, TtpPseudonymiser

MAX_BATCH_CONSENTS = 10_000
_CHUNK = 500


@dataclass(frozen=True)
class Registered:
    consent_id: str
    status: str
    created: bool


def _today() -> date:
    return datetime.now(UTC).date()


def register_batch(
    session: Session,
    *,
    provider_id: str,
    items: Sequence[NewConsent],
    pseudonymiser: TtpPseudonymiser,
    configuration: PrivacyConfiguration,
    known_municipalities: Iterable[str],
    keys: ConsentKeys,
    today: date | None = None,
) -> list[Registered]:
    """Validate and store a batch of consents; one :class:`Registered` per item, in order.

    Raises :class:`InvalidConsent` (400: every error, each with its ``index``) or
    :class:`ConsentRefused` (409: a registration of the same reference committed meanwhile).
    """
    today = today or _today()
    known = frozenset(known_municipalities)
    purposes = configuration.purpose_ids()
    errors: list[dict[str, Any]] = []
    stage2: list[str] = []
    hashes: list[str] = []
    first_seen: dict[str, int] = {}
    for index, new in enumerate(items):
        try:
            stage2.append(pseudonymiser.stage2(new.pseudonym))
        except InvalidPseudonym as exc:
            errors.append({"index": index, "field": "pseudonym", "reason": exc.reason})
            stage2.append("")
        model = _model(provider_id, new, configuration)
        violations = consent.validate_new_consent(model, today=today, allowed_purposes=purposes,
                                                  known_municipalities=known)
        errors.extend({"index": index, "field": v.field, "reason": v.reason} for v in violations)
        ref_hash = pseudonymiser.reference_hash(provider_id, new.consent_ref)
        hashes.append(ref_hash)
        if ref_hash in first_seen:
            errors.append({"index": index, "field": "consent_ref",
                           "reason": f"appears more than once in this batch (first at index {first_seen[ref_hash]})"})
        else:
            first_seen[ref_hash] = index

    existing = _existing(session, provider_id, sorted(first_seen), keys)
    for index, (ref_hash, pseudonym) in enumerate(zip(hashes, stage2, strict=True)):
        row = existing.get(ref_hash)
        if row is not None and pseudonym and row.pseudonym != pseudonym and first_seen.get(ref_hash) == index:
            errors.append({"index": index, "field": "consent_ref",
                           "reason": f"registered before for another person, as consent {row.consent_id}"})
    if errors:
        errors.sort(key=lambda e: (e["index"], e["field"]))
        raise InvalidConsent(errors)

    now = datetime.now(UTC)
    sealer = new_sealer(keys.active_kek)  # one data key for the consents this batch makes
    results: list[Registered] = []
    new_rows: list[tuple[ConsentRecord, consent.Consent, SealedFields]] = []
    for new, ref_hash, pseudonym in zip(items, hashes, stage2, strict=True):
        found = existing.get(ref_hash)
        if found is not None:
            results.append(Registered(found.consent_id, status(found, keys, today).value, created=False))
            continue
        model = _model(provider_id, new, configuration)
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
        seal_onto(row, sealer, fields)
        new_rows.append((row, model, fields))
        results.append(Registered(row.consent_id, "", created=True))
    try:
        with session.begin_nested():
            session.add_all(row for row, _, _ in new_rows)
            session.flush()
    except IntegrityError:
        raise ConsentRefused("consent-exists", "a consent of this batch was registered at the same moment; "
                             "nothing was stored: send the batch again") from None
    for row, _, fields in new_rows:  # the records that follow name them: not opened again
        keys.opened.remember(row, fields, keys.active_kek, keys.unsealer)
    fresh = {row.consent_id: consent.status_at(model, today).value for row, model, _ in new_rows}
    return [Registered(r.consent_id, fresh[r.consent_id], True) if r.created else r for r in results]


def _model(provider_id: str, new: NewConsent, configuration: PrivacyConfiguration) -> consent.Consent:
    try:
        given_by: Any = consent.GivenBy(new.given_by)
    except ValueError:
        given_by = new.given_by  # reported by the rules
    return consent.Consent(
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


def _existing(session: Session, provider_id: str, ref_hashes: list[str], keys: ConsentKeys,
              ) -> dict[str, ConsentRecord]:
    """This provider's consents with these reference hashes, opened for their ids."""
    found: dict[str, ConsentRecord] = {}
    for start in range(0, len(ref_hashes), _CHUNK):
        chunk = ref_hashes[start:start + _CHUNK]
        for row in session.execute(
            select(ConsentRecord).where(ConsentRecord.provider_id == provider_id,
                                        ConsentRecord.consent_ref_hash.in_(chunk))
        ).scalars():
            row.consent_id = fields_of(row, keys).consent_id
            found[row.consent_ref_hash] = row
    return found


def find_by_reference(
    session: Session, *, provider_id: str, consent_ref: str, pseudonymiser: TtpPseudonymiser, keys: ConsentKeys,
) -> ConsentRecord:
    """The provider's own consent with this reference; :class:`ConsentNotFound` otherwise."""
    ref_hash = pseudonymiser.reference_hash(provider_id, consent_ref)
    row = session.execute(
        select(ConsentRecord).where(ConsentRecord.provider_id == provider_id,
                                    ConsentRecord.consent_ref_hash == ref_hash)
    ).scalar_one_or_none()
    if row is None:
        raise ConsentNotFound(consent_ref)
    row.consent_id = fields_of(row, keys).consent_id
    return row
