"""Providers' notes: the story behind the figures ("het verhaal achter de cijfers").

A note belongs to a provider, a municipality and a period; every report that includes that
provider and a period overlapping the note's shows it. The rules live here, once, for the API
(``POST/DELETE /v1/notes``) and the provider's pages alike: :func:`save` refuses a text that
looks like it holds personal data (:mod:`app.reports.note_screening`) and a municipality where
the provider has no records (:func:`has_records`, read from the aggregate store, never from the
records themselves).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ProviderNote, ReportCell
from app.reports import note_screening
from app.reports.note_screening import Finding
from app.reports.periods import Period

MAX_TEXT = 2000


class NoteRefused(Exception):
    """The note is not stored; nothing changed."""


class PersonalData(NoteRefused):
    """The text looks like it holds personal data: ``findings`` say what and where (never the value)."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(note_screening.message_en(findings))
        self.findings = findings


class NoRecords(NoteRefused):
    """The provider has no records for the municipality (for the frameworks asked), so no story there."""


def municipalities_with_records(session: Session, provider_id: str,
                                frameworks: Iterable[str] | None = None) -> list[str]:
    """The municipalities where the provider has records now (in any period; optionally only of
    ``frameworks``), from the aggregate store: its cells hold the provider, municipality and
    framework in clear, so no record is opened. Cells of zero are deleted by the store."""
    query = select(ReportCell.municipality).where(ReportCell.provider_id == provider_id, ReportCell.count > 0)
    if frameworks is not None:
        query = query.where(ReportCell.framework.in_(sorted(set(frameworks))))
    return sorted(session.execute(query.distinct()).scalars())


def has_records(session: Session, provider_id: str, municipality: str,
                frameworks: Iterable[str] | None = None) -> bool:
    """Whether the provider has records for ``municipality`` (one indexed row suffices)."""
    query = select(ReportCell.id).where(ReportCell.provider_id == provider_id,
                                        ReportCell.municipality == municipality, ReportCell.count > 0)
    if frameworks is not None:
        query = query.where(ReportCell.framework.in_(sorted(set(frameworks))))
    return session.execute(query.limit(1)).first() is not None


def check(session: Session, *, provider_id: str, municipality: str, text: str) -> None:
    """Raise :class:`PersonalData` or :class:`NoRecords` when this note may not be stored."""
    findings = note_screening.screen(text)
    if findings:
        raise PersonalData(findings)
    if not has_records(session, provider_id, municipality):
        raise NoRecords(f"no records of provider {provider_id} for {municipality}")


@dataclass(frozen=True)
class Note:
    provider_id: str
    municipality: str
    period: str
    text: str
    updated_at: datetime


def save(session: Session, *, provider_id: str, municipality: str, period: Period, text: str) -> ProviderNote:
    """Add or replace the provider's note for a municipality and period, after :func:`check`
    (raises :class:`PersonalData` or :class:`NoRecords`; then nothing is stored)."""
    check(session, provider_id=provider_id, municipality=municipality, text=text)
    key = str(period)
    row = session.execute(
        select(ProviderNote).where(ProviderNote.provider_id == provider_id, ProviderNote.municipality == municipality,
                                   ProviderNote.period == key)
    ).scalar_one_or_none()
    now = datetime.now(UTC)
    if row is None:
        row = ProviderNote(provider_id=provider_id, municipality=municipality, period=key, text=text, updated_at=now)
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            # The same note was added meanwhile (PostgreSQL lets the two race to the unique
            # constraint; SQLite's writer lock makes the second see the first): replace it, as here.
            row = session.execute(
                select(ProviderNote).where(ProviderNote.provider_id == provider_id,
                                           ProviderNote.municipality == municipality, ProviderNote.period == key)
            ).scalar_one()
    row.text, row.updated_at = text, now
    session.flush()
    return row


def overlapping(
    session: Session, *, municipalities: Iterable[str], period: Period, providers: Iterable[str] | None = None
) -> list[Note]:
    """Notes for the municipalities whose period shares a quarter with ``period``."""
    wanted = set(period.quarters)
    query = select(ProviderNote).where(ProviderNote.municipality.in_(sorted(set(municipalities))))
    if providers is not None:
        query = query.where(ProviderNote.provider_id.in_(sorted(set(providers))))
    notes = []
    for row in session.execute(query.order_by(ProviderNote.provider_id, ProviderNote.period)).scalars():
        if wanted & set(Period.parse(row.period).quarters):
            notes.append(Note(row.provider_id, row.municipality, row.period, row.text, row.updated_at))
    return notes


def of_provider(session: Session, provider_id: str) -> list[Note]:
    """Every note of one provider, by municipality and period (for its own pages)."""
    rows = session.execute(select(ProviderNote).where(ProviderNote.provider_id == provider_id)
                           .order_by(ProviderNote.municipality, ProviderNote.period)).scalars()
    return [Note(r.provider_id, r.municipality, r.period, r.text, r.updated_at) for r in rows]


def get(session: Session, *, provider_id: str, municipality: str, period: Period) -> Note | None:
    """The provider's own note for a municipality and period, or None."""
    row = session.execute(
        select(ProviderNote).where(ProviderNote.provider_id == provider_id, ProviderNote.municipality == municipality,
                                   ProviderNote.period == str(period))
    ).scalar_one_or_none()
    return None if row is None else Note(row.provider_id, row.municipality, row.period, row.text, row.updated_at)


def withdraw(session: Session, *, provider_id: str, municipality: str, period: Period) -> bool:
    """Remove the provider's own note; False when it has none there (another's is never touched)."""
    result = session.execute(
        delete(ProviderNote).where(ProviderNote.provider_id == provider_id, ProviderNote.municipality == municipality,
                                   ProviderNote.period == str(period))
    )
    session.flush()
    return bool(getattr(result, "rowcount", 0))
