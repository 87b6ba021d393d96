"""The provider's own pages (``/aanbieder/{agb}/...``): its uploads and what they count in, the
story behind its figures, and the JB/JR process context.

Thin over the services the API uses: :mod:`app.reports.notes` (``POST/DELETE /v1/notes``, with
the screening of :mod:`app.reports.note_screening` and the rule "only where you have records"),
:mod:`app.reports.process_context`, and for uploads the batches and the aggregate store the batch
receipt (``POST /v1/records/batches``) is counted from. What is here is presentation: Dutch words,
forms that keep what was typed when it is refused, and the audit detail of each change. Never a
record's content, a pseudonym or the refused value itself.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import dependencies
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.models import RecordBatch, ReportCell
from app.records.ingestion import LINKED_INDICATORS
from app.reports import note_screening, pending, process_context
from app.reports import notes as provider_notes
from app.reports.periods import PERIOD_PATTERN, Period
from app.runtime import Runtime
from app.web.deps import CsrfProviderUser, ProviderUser, WebUser, own_organisation
from app.web.templating import render

router = APIRouter(include_in_schema=False)

AGB = r"^\d{8}$"
MUNICIPALITY = r"^GM\d{4}$"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")
FRAMEWORKS = {"jeugdhulp": "Jeugdhulp", "jeugdbescherming": "Jeugdbescherming",
              "jeugdreclassering": "Jeugdreclassering"}
#: Batches shown on the uploads page (the newest first).
BATCHES_SHOWN = 50
#: The fixed notices after a change (the query names one; nothing typed is ever reflected).
NOTICES = {
    "opgeslagen": "Uw verhaal is opgeslagen. Gemeenten zien het naast uw cijfers.",
    "ingetrokken": "Uw verhaal is ingetrokken. Gemeenten zien het niet meer.",
    "context-opgeslagen": "Uw procescontext is opgeslagen. Gemeenten zien hem naast uw JB/JR-cijfers.",
    "context-ingetrokken": "Uw procescontext is ingetrokken. Gemeenten zien hem niet meer.",
}


# ---- Dutch words --------------------------------------------------------------------------------
def when(value: datetime) -> str:
    """A moment in Dutch, Amsterdam time: '2 december 2026, 06:15'."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(AMSTERDAM)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def day(value: date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def period_label(text: str) -> str:
    """'2025-Q1' -> '1e kwartaal 2025', '2025-H2' -> '2e halfjaar 2025', '2025' -> '2025'."""
    period = Period.parse(text)
    if period.kind == "year":
        return str(period.year)
    return f"{period.number}e {'kwartaal' if period.kind == 'quarter' else 'halfjaar'} {period.year}"


def period_options(today: date, extra: list[str] | None = None) -> list[tuple[str, str]]:
    """The periods a story or context can be about: this year and the two before it (quarters,
    half-years and years, newest first), plus any ``extra`` (an older one being edited)."""
    values: list[str] = []
    for year in range(today.year, today.year - 3, -1):
        values += [f"{year}-Q{n}" for n in (4, 3, 2, 1)] + [f"{year}-H{n}" for n in (2, 1)] + [str(year)]
    for value in extra or []:
        if value not in values:
            values.append(value)
    return [(value, period_label(value)) for value in values]


def default_period(today: date) -> str:
    """The last quarter that has ended."""
    quarter = (today.month - 1) // 3
    return f"{today.year - 1}-Q4" if quarter == 0 else f"{today.year}-Q{quarter}"


def municipality_label(runtime: Runtime, code: str) -> str:
    found = runtime.codelists.municipalities.get(code)
    return f"{found.name} ({code})" if found else code


def _helpers(runtime: Runtime, user: WebUser, agb: str, current: str) -> dict[str, Any]:
    return {"agb": agb, "current": current, "when": when, "day": day, "period_label": period_label,
            "municipality_label": lambda code: municipality_label(runtime, code)}


def _valid_period(text: str) -> Period | None:
    try:
        return Period.parse(text)
    except ValueError:
        return None


# ---- uploads ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CountRow:
    quarter: str
    framework: str
    records: dict[str, int]  # indicator id -> how many of the provider's records count in it


@dataclass(frozen=True)
class Counted:
    """One municipality's lines: the indicator columns (id, short Dutch name) and a row per quarter and framework."""

    columns: list[tuple[str, str]]
    rows: list[CountRow]


def counted(session: Session, provider_id: str, runtime: Runtime) -> dict[str, Counted]:
    """What the provider's own records count in now, per municipality, quarter and indicator: the
    batch receipt's lines over all its records still stored. From the aggregate store (no record is
    opened) and, like the receipt, without the linkage indicators, which also depend on other
    providers' records. Only the registry's indicators (not the informant split stored beside them)."""
    registry = [i for i in runtime.publisher.registry.indicators if i.id not in LINKED_INDICATORS]
    order = {i.id: n for n, i in enumerate(registry)}
    names = {i.id: i.name_nl.split(" (")[0] for i in registry}
    rows = session.execute(
        select(ReportCell.municipality, ReportCell.period, ReportCell.framework, ReportCell.indicator,
               func.sum(ReportCell.count))
        .where(ReportCell.provider_id == provider_id, ReportCell.indicator.in_(sorted(order)))
        .group_by(ReportCell.municipality, ReportCell.period, ReportCell.framework, ReportCell.indicator)
    ).all()
    found: dict[str, dict[tuple[str, str], dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for municipality, quarter, framework, indicator, records in rows:
        if records:
            found[municipality][(quarter, framework)][indicator] = int(records)
    out = {}
    for municipality, lines in sorted(found.items()):
        present = sorted({i for counts in lines.values() for i in counts}, key=order.__getitem__)
        ordered = sorted(lines.items(), key=lambda item: (item[0][0], item[0][1]), reverse=True)
        out[municipality] = Counted([(i, names[i]) for i in present],
                                    [CountRow(quarter, framework, counts) for (quarter, framework), counts in ordered])
    return out


@router.get("/aanbieder/{agb}/aanleveringen", name="page.provider.uploads")
@audited("page.provider.uploads")
def uploads(request: Request, user: ProviderUser, session: dependencies.DbSession, runtime: RuntimeDep,
            agb: str) -> Response:
    own_organisation(user, agb)
    batches = session.execute(
        select(RecordBatch).where(RecordBatch.provider_id == agb)
        .order_by(RecordBatch.received_at.desc(), RecordBatch.id.desc()).limit(BATCHES_SHOWN)
    ).scalars().all()
    total = session.execute(select(func.count()).select_from(RecordBatch)
                            .where(RecordBatch.provider_id == agb)).scalar_one()
    lines = counted(session, agb, runtime)
    calendar, today = runtime.publisher.calendar, datetime.now(UTC).date()
    next_change = {row.quarter: calendar.next_change(Period.parse(row.quarter), today)
                   for found in lines.values() for row in found.rows}
    waiting = waiting_rows(pending.pending_lines(session, runtime.publisher, agb, today=today))
    audit_context(request).detail = {"batches": len(batches), "municipalities": len(lines),
                                     "waiting_rows": sum(1 for w in waiting.values() if w.published)}
    return render(request, "provider/aanleveringen.html", **_helpers(runtime, user, agb, "aanleveringen"),
                  batches=batches, total_batches=total, lines=lines, next_change=next_change,
                  waiting=waiting, frameworks=FRAMEWORKS)


@dataclass(frozen=True)
class Waiting:
    """What of one row (municipality, quarter, framework) the published figures do not show yet."""

    published: bool  # the quarter is in a release (else its first publication is still to come)
    changed_at_least: int  # the most records changed in one indicator since that release
    published_from: date | None


def waiting_rows(lines: list[pending.PendingLine]) -> dict[tuple[str, str, str], Waiting]:
    rows: dict[tuple[str, str, str], list[pending.PendingLine]] = defaultdict(list)
    for line in lines:
        rows[(line.municipality, line.quarter, line.framework)].append(line)
    return {key: Waiting(found[0].published_records is not None, max(line.changed_at_least for line in found),
                         found[0].published_from) for key, found in rows.items()}


# ---- stories ------------------------------------------------------------------------------------
def _stories_page(request: Request, session: Session, runtime: Runtime, user: WebUser, agb: str, *,
                  form: dict[str, str], error: str | None = None, field_error: str | None = None,
                  status: int = 200, notice: str | None = None, editing: bool = False) -> Response:
    stories = provider_notes.of_provider(session, agb)
    options = provider_notes.municipalities_with_records(session, agb)
    today = datetime.now(UTC).date()
    return render(request, "provider/verhalen.html", status_code=status, **_helpers(runtime, user, agb, "verhalen"),
                  stories=stories, municipalities=options, form=form, error=error, field_error=field_error,
                  notice=notice, editing=editing, max_text=provider_notes.MAX_TEXT,
                  periods=period_options(today, [s.period for s in stories] + [form["periode"]]),
                  has_jbjr=bool(process_context.municipalities(session, agb)))


@router.get("/aanbieder/{agb}/verhalen", name="page.provider.stories")
@audited("page.provider.stories")
def stories(
    request: Request, user: ProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str | None, Query(pattern=MUNICIPALITY)] = None,
    periode: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    bericht: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    own_organisation(user, agb)
    form = {"gemeente": gemeente or "", "periode": periode or default_period(datetime.now(UTC).date()), "tekst": ""}
    editing = False
    if gemeente and periode:
        existing = provider_notes.get(session, provider_id=agb, municipality=gemeente, period=Period.parse(periode))
        if existing is not None:
            form["tekst"], editing = existing.text, True
    return _stories_page(request, session, runtime, user, agb, form=form, notice=NOTICES.get(bericht or ""),
                         editing=editing)


@router.post("/aanbieder/{agb}/verhalen", name="page.provider.stories.save")
@audited("page.provider.stories.save")
def save_story(
    request: Request, user: CsrfProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str, Form()] = "", periode: Annotated[str, Form()] = "", tekst: Annotated[str, Form()] = "",
) -> Response:
    own_organisation(user, agb)
    context = audit_context(request)
    context.resource = f"notes/{gemeente[:6]}/{periode[:7]}"
    form = {"gemeente": gemeente, "periode": periode, "tekst": tekst}
    period = _valid_period(periode)
    error = field_error = None
    if gemeente not in runtime.codelists.municipalities:
        error = "Kies een gemeente waar u records voor heeft aangeleverd."
    elif period is None:
        error = "Kies een periode: een jaar, een halfjaar of een kwartaal."
    elif not tekst.strip():
        error = field_error = "Schrijf eerst uw verhaal."
    elif len(tekst) > provider_notes.MAX_TEXT:
        error = field_error = f"Uw verhaal is {len(tekst)} tekens; het mag er hoogstens {provider_notes.MAX_TEXT} zijn."
    elif "\x00" in tekst:
        error = field_error = "Uw verhaal bevat een teken dat niet kan worden opgeslagen."
    if error is not None or period is None:
        context.detail = {"refused": "invalid"}
        form["periode"] = periode if period is not None else default_period(datetime.now(UTC).date())
        return _stories_page(request, session, runtime, user, agb, form=form, error=error, field_error=field_error,
                             status=400, editing=True)
    try:
        provider_notes.save(session, provider_id=agb, municipality=gemeente, period=period, text=tekst)
    except provider_notes.PersonalData as exc:
        session.rollback()
        context.detail = {"refused": sorted({f.kind for f in exc.findings})}
        message = note_screening.message_nl(exc.findings)
        return _stories_page(request, session, runtime, user, agb, form=form, error=message, field_error=message,
                             status=400, editing=True)
    except provider_notes.NoRecords:
        session.rollback()
        context.detail = {"refused": "no-records"}
        return _stories_page(request, session, runtime, user, agb, form=form, status=403, editing=True,
                             error="U kunt alleen een verhaal schrijven voor een gemeente waar u records voor "
                                   "heeft aangeleverd.")
    context.detail = {"characters": len(tekst)}
    context.commit(session, 303)
    return RedirectResponse(f"/aanbieder/{agb}/verhalen?{urlencode({'bericht': 'opgeslagen'})}", status_code=303)


@router.post("/aanbieder/{agb}/verhalen/intrekken", name="page.provider.stories.withdraw")
@audited("page.provider.stories.withdraw")
def withdraw_story(
    request: Request, user: CsrfProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str, Form()] = "", periode: Annotated[str, Form()] = "",
) -> Response:
    own_organisation(user, agb)
    context = audit_context(request)
    context.resource = f"notes/{gemeente[:6]}/{periode[:7]}"
    period = _valid_period(periode)
    if period is None or not provider_notes.withdraw(session, provider_id=agb, municipality=gemeente, period=period):
        session.rollback()
        form = {"gemeente": "", "periode": default_period(datetime.now(UTC).date()), "tekst": ""}
        return _stories_page(request, session, runtime, user, agb, form=form, status=404,
                             error="Dit verhaal bestaat niet (meer); er is niets ingetrokken.")
    context.detail = {"removed": 1}
    context.commit(session, 303)
    return RedirectResponse(f"/aanbieder/{agb}/verhalen?bericht=ingetrokken", status_code=303)


# ---- the JB/JR process context -----------------------------------------------------------------
def _context_page(request: Request, session: Session, runtime: Runtime, user: WebUser, agb: str, *,
                  form: dict[str, str], errors: dict[str, str] | None = None, error: str | None = None,
                  status: int = 200, notice: str | None = None, editing: bool = False) -> Response:
    entries = process_context.of_provider(session, agb)
    today = datetime.now(UTC).date()
    return render(request, "provider/context.html", status_code=status, **_helpers(runtime, user, agb, "context"),
                  entries=entries, municipalities=process_context.municipalities(session, agb), form=form,
                  errors=errors or {}, error=error, notice=notice, editing=editing, fields=process_context.FIELDS,
                  max_field=process_context.MAX_FIELD,
                  periods=period_options(today, [e.period for e in entries] + [form["periode"]]))


def _empty_context_form(gemeente: str = "", periode: str = "") -> dict[str, str]:
    return {"gemeente": gemeente, "periode": periode or default_period(datetime.now(UTC).date()),
            **{f.name: "" for f in process_context.FIELDS}}


@router.get("/aanbieder/{agb}/context", name="page.provider.context")
@audited("page.provider.context")
def contexts(
    request: Request, user: ProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str | None, Query(pattern=MUNICIPALITY)] = None,
    periode: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    bericht: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    own_organisation(user, agb)
    form = _empty_context_form(gemeente or "", periode or "")
    editing = False
    if gemeente and periode:
        existing = process_context.get(session, provider_id=agb, municipality=gemeente, period=Period.parse(periode))
        if existing is not None:
            form.update(existing.fields)
            editing = True
    return _context_page(request, session, runtime, user, agb, form=form, notice=NOTICES.get(bericht or ""),
                         editing=editing)


@router.post("/aanbieder/{agb}/context", name="page.provider.context.save")
@audited("page.provider.context.save")
def save_context(
    request: Request, user: CsrfProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str, Form()] = "", periode: Annotated[str, Form()] = "",
    working_relationship: Annotated[str, Form()] = "", chain_cooperation: Annotated[str, Form()] = "",
    issues: Annotated[str, Form()] = "", target_group: Annotated[str, Form()] = "",
    methods: Annotated[str, Form()] = "", measurement: Annotated[str, Form()] = "",
) -> Response:
    own_organisation(user, agb)
    form = {"gemeente": gemeente, "periode": periode, "working_relationship": working_relationship,
            "chain_cooperation": chain_cooperation, "issues": issues, "target_group": target_group,
            "methods": methods, "measurement": measurement}
    return _save_context(request, user, session, runtime, agb, form)


def _save_context(request: Request, user: WebUser, session: Session, runtime: Runtime, agb: str,
                  form: dict[str, str]) -> Response:
    context = audit_context(request)
    context.resource = f"process-context/{form['gemeente'][:6]}/{form['periode'][:7]}"
    period = _valid_period(form["periode"])
    if form["gemeente"] not in runtime.codelists.municipalities or period is None:
        context.detail = {"refused": "invalid"}
        if period is None:
            form["periode"] = default_period(datetime.now(UTC).date())
        return _context_page(request, session, runtime, user, agb, form=form, status=400, editing=True,
                             error="Kies een gemeente waar u JB- of JR-records voor heeft, en een periode.")
    fields = {name: form[name] for name in process_context.FIELD_NAMES}
    try:
        process_context.save(session, provider_id=agb, municipality=form["gemeente"], period=period, fields=fields)
    except process_context.Invalid as exc:
        session.rollback()
        context.detail = {"refused": "invalid"}
        errors = {name: (f"Hoogstens {process_context.MAX_FIELD} tekens." if "at most" in reason
                         else "Dit veld bevat een teken dat niet kan worden opgeslagen.")
                  for name, reason in exc.errors.items() if name in process_context.FIELD_NAMES}
        error = ("Vul minstens één veld in." if "fields" in exc.errors
                 else "Niet opgeslagen: verbeter de velden die hieronder zijn gemarkeerd.")
        return _context_page(request, session, runtime, user, agb, form=form, errors=errors, error=error,
                             status=400, editing=True)
    except process_context.PersonalData as exc:
        session.rollback()
        context.detail = {"refused": sorted({f.kind for found in exc.findings.values() for f in found})}
        errors = {name: note_screening.message_nl(found) for name, found in exc.findings.items()}
        labels = ", ".join(process_context.LABELS[name] for name in errors)
        return _context_page(request, session, runtime, user, agb, form=form, errors=errors, status=400,
                             editing=True, error=f"Niet opgeslagen: {labels} lijkt persoonsgegevens te bevatten. "
                                                 "Haal ze weg en probeer het opnieuw.")
    except provider_notes.NoRecords:
        session.rollback()
        context.detail = {"refused": "no-records"}
        return _context_page(request, session, runtime, user, agb, form=form, status=403, editing=True,
                             error="U kunt alleen procescontext geven voor een gemeente waar u JB- of JR-records "
                                   "voor heeft aangeleverd.")
    context.detail = {"fields": sorted(name for name, text in fields.items() if text.strip())}
    context.commit(session, 303)
    return RedirectResponse(f"/aanbieder/{agb}/context?bericht=context-opgeslagen", status_code=303)


@router.post("/aanbieder/{agb}/context/intrekken", name="page.provider.context.withdraw")
@audited("page.provider.context.withdraw")
def withdraw_context(
    request: Request, user: CsrfProviderUser, session: dependencies.DbSession, runtime: RuntimeDep, agb: str,
    gemeente: Annotated[str, Form()] = "", periode: Annotated[str, Form()] = "",
) -> Response:
    own_organisation(user, agb)
    context = audit_context(request)
    context.resource = f"process-context/{gemeente[:6]}/{periode[:7]}"
    period = _valid_period(periode)
    if period is None or not process_context.withdraw(session, provider_id=agb, municipality=gemeente,
                                                      period=period):
        session.rollback()
        return _context_page(request, session, runtime, user, agb, form=_empty_context_form(), status=404,
                             error="Deze procescontext bestaat niet (meer); er is niets ingetrokken.")
    context.detail = {"removed": 1}
    context.commit(session, 303)
    return RedirectResponse(f"/aanbieder/{agb}/context?bericht=context-ingetrokken", status_code=303)
