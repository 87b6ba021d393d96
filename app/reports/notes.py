"""Providers' notes: the story behind the figures ("het verhaal achter de cijfers").

A note belongs to a provider, a municipality and a period; every report that includes that
provider and a period overlapping the note's shows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ProviderNote
from app.reports.periods import Period

MAX_TEXT = 2000


@dataclass(frozen=True)
class Note:
    provider_id: str
    municipality: str
    period: str
    text: str
    updated_at: datetime


def save(session: Session, *, provider_id: str, municipality: str, period: Period, text: str) -> ProviderNote:
    """Add or replace the provider's note for a municipality and period."""
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
