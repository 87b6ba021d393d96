"""The JB/JR process context: what a provider of jeugdbescherming or jeugdreclassering tells
municipalities beside its figures (seed 004, kaart 2 of the handreiking for the quality dialogue).

Per provider, municipality and period, a few structured fields of short free text (at most
:data:`MAX_FIELD` characters each): the working relationship, chain cooperation, kwesties such as
waiting lists, target-group characteristics, methods used, and when and how the outcome was
measured. The same rules as a story (:mod:`app.reports.notes`), here once for the pages and any
API: every field is screened for personal data (:mod:`app.reports.note_screening`), and a context
is only for a municipality where the provider has JB or JR records (read from the aggregate store).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ProcessContext
from app.reports import note_screening
from app.reports.note_screening import Finding
from app.reports.notes import NoRecords, NoteRefused, has_records, municipalities_with_records
from app.reports.periods import Period

MAX_FIELD = 500
#: The frameworks whose records allow a process context.
JBJR_FRAMEWORKS = ("jeugdbescherming", "jeugdreclassering")
FRAMEWORK = "jbjr"


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # Dutch, for the form and the report
    hint: str  # Dutch: what belongs here


FIELDS = (
    Field("working_relationship", "Werkrelatie",
          "Hoe de werkrelatie met jeugdigen en ouders verliep, bijvoorbeeld wisselingen van jeugdbeschermer."),
    Field("chain_cooperation", "Samenwerking in de keten",
          "Samenwerking met onder meer de Raad voor de Kinderbescherming, het OM, wijkteams en zorgaanbieders."),
    Field("issues", "Kwesties",
          "Bijvoorbeeld wachtlijsten, personeelstekort of een hoge caseload."),
    Field("target_group", "Kenmerken van de doelgroep",
          "Wat deze groep jeugdigen of gezinnen kenmerkt, zonder iemand herkenbaar te beschrijven."),
    Field("methods", "Gebruikte methoden",
          "Bijvoorbeeld de Deltamethode, Functioneel Ouderschap of een risicotaxatie-instrument."),
    Field("measurement", "Meting van de uitkomst",
          "Wanneer en hoe de uitkomst is gemeten, en door wie."),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
LABELS = {f.name: f.label for f in FIELDS}


class PersonalData(NoteRefused):
    """Some fields look like they hold personal data: ``findings`` per field (kind and position)."""

    def __init__(self, findings: dict[str, list[Finding]]) -> None:
        super().__init__("; ".join(f"{name}: {note_screening.message_en(found)}" for name, found in findings.items()))
        self.findings = findings


class Invalid(NoteRefused):
    """A field is unknown or too long, or every field is empty: ``errors`` per field (English)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Entry:
    """One provider's process context for a municipality and period."""

    provider_id: str
    municipality: str
    period: str
    framework: str
    fields: dict[str, str]  # only the filled fields, by name, in the order of FIELDS
    updated_at: datetime

    def labelled(self) -> list[tuple[str, str]]:
        """(Dutch label, text) for each filled field, in the order of :data:`FIELDS`."""
        return [(LABELS[name], text) for name, text in self.fields.items()]


def _entry(row: ProcessContext) -> Entry:
    fields = {name: value for name in FIELD_NAMES if (value := getattr(row, name))}
    return Entry(row.provider_id, row.municipality, row.period, row.framework, fields, row.updated_at)


def municipalities(session: Session, provider_id: str) -> list[str]:
    """The municipalities where the provider has JB or JR records: where it may write a context."""
    return municipalities_with_records(session, provider_id, JBJR_FRAMEWORKS)


def clean(fields: Mapping[str, str | None]) -> dict[str, str]:
    """The filled fields, stripped; raises :class:`Invalid` for an unknown or too long field, or
    when none is filled."""
    errors: dict[str, str] = {}
    out: dict[str, str] = {}
    for name, value in fields.items():
        if name not in FIELD_NAMES:
            errors[name] = "unknown field"
            continue
        text = (value or "").strip()
        if len(text) > MAX_FIELD:
            errors[name] = f"at most {MAX_FIELD} characters ({len(text)} given)"
        elif "\x00" in text:
            errors[name] = "NUL character"
        elif text:
            out[name] = text
    if not errors and not out:
        errors["fields"] = "fill in at least one field"
    if errors:
        raise Invalid(errors)
    return {name: out[name] for name in FIELD_NAMES if name in out}


def check(session: Session, *, provider_id: str, municipality: str, fields: Mapping[str, str | None]) -> dict[str, str]:
    """The cleaned fields, or :class:`Invalid`, :class:`PersonalData` or :class:`NoRecords`."""
    filled = clean(fields)
    findings = {name: found for name, text in filled.items() if (found := note_screening.screen(text))}
    if findings:
        raise PersonalData(findings)
    if not has_records(session, provider_id, municipality, JBJR_FRAMEWORKS):
        raise NoRecords(f"no JB or JR records of provider {provider_id} for {municipality}")
    return filled


def _row(session: Session, provider_id: str, municipality: str, period: str) -> ProcessContext | None:
    return session.execute(
        select(ProcessContext).where(ProcessContext.provider_id == provider_id,
                                     ProcessContext.municipality == municipality, ProcessContext.period == period)
    ).scalar_one_or_none()


def save(session: Session, *, provider_id: str, municipality: str, period: Period,
         fields: Mapping[str, str | None]) -> Entry:
    """Add or replace the provider's context for a municipality and period (every field at once:
    a field left empty is cleared). Raises like :func:`check`; then nothing is stored."""
    filled = check(session, provider_id=provider_id, municipality=municipality, fields=fields)
    key = str(period)
    now = datetime.now(UTC)
    values = {name: filled.get(name) for name in FIELD_NAMES}
    row = _row(session, provider_id, municipality, key)
    if row is None:
        row = ProcessContext(provider_id=provider_id, municipality=municipality, period=key, framework=FRAMEWORK,
                             updated_at=now, **values)
        try:
            with session.begin_nested():
                session.add(row)
            return _entry(row)
        except IntegrityError:  # added meanwhile by a concurrent request: replace it, as below
            row = _row(session, provider_id, municipality, key)
            assert row is not None
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()
    return _entry(row)


def get(session: Session, *, provider_id: str, municipality: str, period: Period) -> Entry | None:
    row = _row(session, provider_id, municipality, str(period))
    return None if row is None else _entry(row)


def of_provider(session: Session, provider_id: str) -> list[Entry]:
    """Every context of one provider, by municipality and period (for its own pages)."""
    rows = session.execute(select(ProcessContext).where(ProcessContext.provider_id == provider_id)
                           .order_by(ProcessContext.municipality, ProcessContext.period)).scalars()
    return [_entry(r) for r in rows]


def withdraw(session: Session, *, provider_id: str, municipality: str, period: Period) -> bool:
    """Remove the provider's own context; False when it has none there."""
    result = session.execute(
        delete(ProcessContext).where(ProcessContext.provider_id == provider_id,
                                     ProcessContext.municipality == municipality,
                                     ProcessContext.period == str(period))
    )
    session.flush()
    return bool(getattr(result, "rowcount", 0))


def overlapping(
    session: Session, *, municipalities: Iterable[str], period: Period, providers: Iterable[str] | None = None
) -> list[Entry]:
    """Contexts for the municipalities whose period shares a quarter with ``period`` (like
    :func:`app.reports.notes.overlapping`), by provider, municipality and period."""
    wanted = set(period.quarters)
    query = select(ProcessContext).where(ProcessContext.municipality.in_(sorted(set(municipalities))))
    if providers is not None:
        query = query.where(ProcessContext.provider_id.in_(sorted(set(providers))))
    rows = session.execute(query.order_by(ProcessContext.provider_id, ProcessContext.municipality,
                                          ProcessContext.period)).scalars()
    return [_entry(row) for row in rows if wanted & set(Period.parse(row.period).quarters)]
