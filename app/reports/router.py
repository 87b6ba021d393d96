"""HTTP: the indicator registry, aggregated reports (JSON and CSV), and providers' notes."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from app import dependencies
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.negotiation import preferred_media_type
from app.problems import NOT_YET_PUBLISHED, PAST_RETENTION, Problem, problem_responses
from app.reports import note_screening, pending, process_context, views
from app.reports import notes as provider_notes
from app.reports.auth import MunicipalityReportReader, NotesWriter, ProviderReportReader, RegionReportReader
from app.reports.cut import NotYetPublished, PastRetention, Report
from app.reports.periods import PERIOD_PATTERN, Period
from app.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["reports"])

Framework = Literal["jeugdhulp", "jeugdbescherming", "jeugdreclassering"]
AreaBy = Literal["provider", "hulpvorm", "product_category", "age_band", "sex"]
WideBy = Literal["provider", "hulpvorm", "product_category", "age_band", "sex", "municipality"]
ProviderBy = Literal["municipality", "hulpvorm", "product_category", "age_band", "sex"]
CSV_MEDIA = "text/csv"


class IndicatorOut(BaseModel):
    id: str
    framework: str
    name_nl: str
    name_en: str
    numerator: str
    denominator: str
    unit: str
    reads: Literal["share", "mean_mark"]
    depends_on_answers: bool


class CellOut(BaseModel):
    dimensions: dict[str, str]
    indicator: str
    suppressed: bool
    denominator: int | None = None
    numerator: int | None = None
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    responses: int | None = None
    response_rate: float | None = None
    band: str | None = Field(default=None, description="Shown instead of numerator and value for small counts")
    reason: str | None = None


class NoteOut(BaseModel):
    provider: str
    municipality: str
    period: str
    text: str


class ReleaseOut(BaseModel):
    id: str
    sequence: int = Field(description="1 for a family's first release of the year, then 2, 3, ...")
    published_at: datetime
    next_release: date = Field(description="When the next release is due (the publication calendar)")


class ReportOut(BaseModel):
    unit: dict[str, str]
    period: str
    framework: str
    by: str | None
    threshold: int = Field(description="The minimum cell size that applied (the strictest of the cells shown)")
    as_of: datetime = Field(description=(
        "When the release's figures were read from the aggregate store"))
    release: ReleaseOut = Field(description="The release this report is cut from, and when the next is due")
    rounding_base: int
    completeness: dict[str, float | None] = Field(
        description="Per linkage indicator: % of ended trajectories whose follow-up window has settled")
    cells: list[CellOut]
    notes: list[NoteOut]


REPORT_RESPONSES = {
    **problem_responses(400, 401, 403, 404, 409, 410),
    200: {"content": {"application/json": {}, CSV_MEDIA: {"schema": {"type": "string"}}},
          "description": "The report (JSON, or CSV with Accept: text/csv)"},
}


@router.get("/indicators", response_model=list[IndicatorOut], summary="The indicator registry",
            name="indicators.list")
def indicators(request: Request, runtime: RuntimeDep) -> list[IndicatorOut]:
    audit_context(request).action = "indicators.list"
    return [
        IndicatorOut(id=i.id, framework=i.framework, name_nl=i.name_nl, name_en=i.name_en,
                     numerator=i.numerator_label, denominator=i.denominator_label, unit=i.unit,
                     reads=i.kind, depends_on_answers=i.responses)
        for i in runtime.publisher.registry.indicators
    ]


def _render(request: Request, report: Report, unit: dict[str, str], notes: list[provider_notes.Note],
            runtime: Runtime) -> ReportOut | Response:
    context = audit_context(request)
    context.purpose = "outcome-monitoring"
    context.detail = {"cells": len(report.cells), "suppressed": sum(c.suppressed for c in report.cells),
                      "period": report.period, "release": report.release.id}
    body = ReportOut(
        unit=unit, period=report.period, framework=report.framework, by=report.by, threshold=report.threshold,
        as_of=report.as_of, release=ReleaseOut(**asdict(report.release)),
        rounding_base=runtime.privacy.configuration.disclosure.rounding_base,
        completeness=report.completeness,
        cells=[CellOut(**asdict(c)) for c in report.cells],
        notes=[NoteOut(provider=n.provider_id, municipality=n.municipality, period=n.period, text=n.text)
               for n in notes],
    )
    if preferred_media_type(request, ["application/json", CSV_MEDIA]) == CSV_MEDIA:
        filename = f"report-{unit['id']}-{report.period}.csv"
        return Response(_csv(body), media_type=f"{CSV_MEDIA}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return body


def _csv(report: ReportOut) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["unit", "period", "framework", "dimension", "category", "indicator", "suppressed",
                     "denominator", "numerator", "value", "ci_low", "ci_high", "responses", "response_rate",
                     "band", "threshold", "as_of", "release"])
    for cell in report.cells:
        dimension, category = next(iter(cell.dimensions.items()), ("total", ""))
        writer.writerow([
            report.unit["id"], report.period, report.framework, dimension, category, cell.indicator,
            "yes" if cell.suppressed else "no",
            *("" if v is None else v for v in (cell.denominator, cell.numerator, cell.value, cell.ci_low,
                                                cell.ci_high, cell.responses, cell.response_rate, cell.band)),
            report.threshold, report.as_of.isoformat().replace("+00:00", "Z"), report.release.id,
        ])
    return buffer.getvalue()


def _read(session: Any, runtime: Runtime, unit: views.Unit, period: str, framework: str,
          by: str | None) -> Report:
    try:
        return views.read(session, runtime, unit, period=Period.parse(period), framework=framework, by=by)
    except PastRetention as exc:
        raise Problem(410, str(exc), kind=PAST_RETENTION) from None
    except NotYetPublished as exc:
        raise Problem(409, f"{exc}; reports are published on the calendar of the privacy configuration",
                      kind=NOT_YET_PUBLISHED) from None


def _period(period: str) -> Period:
    return Period.parse(period)


PeriodQuery = Query(pattern=PERIOD_PATTERN, description="2025, 2025-H1 or 2025-Q2")


@router.get("/reports/municipalities/{code}", response_model=ReportOut, responses=REPORT_RESPONSES,
            summary="A municipality's outcome report", name="reports.municipality")
@audited("reports.municipality")
def municipality_report(
    request: Request,
    session: dependencies.ReadSession,
    principal: MunicipalityReportReader,
    runtime: RuntimeDep,
    code: str = Path(pattern=r"^GM\d{4}$"),
    period: str = PeriodQuery,
    framework: Framework = "jeugdhulp",
    by: AreaBy | None = None,
) -> ReportOut | Response:
    unit = views.municipality_unit(code, runtime)
    report = _read(session, runtime, unit, period, framework, by)
    return _render(request, report, unit.ref(), views.stories(session, unit, _period(period)), runtime)


@router.get("/reports/regions/{region_id}", response_model=ReportOut, responses=REPORT_RESPONSES,
            summary="A region's outcome report (regions that agreed; for their member municipalities)",
            name="reports.region")
@audited("reports.region")
def region_report(
    request: Request,
    session: dependencies.ReadSession,
    principal: RegionReportReader,
    runtime: RuntimeDep,
    region_id: str = Path(pattern=r"^[a-z0-9-]{1,60}$"),
    period: str = PeriodQuery,
    framework: Framework = "jeugdhulp",
    by: WideBy | None = None,
) -> ReportOut | Response:
    audit_context(request).resource = request.url.path
    unit = views.region_unit(principal.org_id, region_id, runtime)
    if unit is None:
        raise Problem(404, f"no report at {request.url.path}")
    report = _read(session, runtime, unit, period, framework, by)
    return _render(request, report, unit.ref(), views.stories(session, unit, _period(period)), runtime)


@router.get("/reports/providers/{agb}", response_model=ReportOut, responses=REPORT_RESPONSES,
            summary="A provider's own mirror report (spiegelrapportage)", name="reports.provider")
@audited("reports.provider")
def provider_report(
    request: Request,
    session: dependencies.ReadSession,
    principal: ProviderReportReader,
    runtime: RuntimeDep,
    agb: str = Path(pattern=r"^\d{8}$"),
    period: str = PeriodQuery,
    framework: Framework = "jeugdhulp",
    by: ProviderBy | None = None,
) -> ReportOut | Response:
    unit = views.provider_unit(agb, runtime)
    report = _read(session, runtime, unit, period, framework, by)
    return _render(request, report, unit.ref(), views.stories(session, unit, _period(period)), runtime)


class PendingOut(BaseModel):
    municipality: str
    period: str = Field(description="The quarter the trajectories ended in")
    framework: Framework
    indicator: str
    records: int = Field(description="Your records that count in it now")
    published_records: int | None = Field(
        description="What the current release of your mirror report counted; null: the quarter is not published yet")
    changed_at_least: int = Field(description="At least this many of your records are new, changed or gone since")
    status: Literal["not_yet_published", "waiting", "final"] = Field(description=(
        "not_yet_published: the quarter's first release is still to come; waiting: a change too small to publish "
        "safely (fewer people than a threshold) or newer than the current release, shown from `published_from` at "
        "the earliest; final: the quarter can no longer change, so the change is kept but not published"))
    release: str | None = Field(description="The current release of your mirror report for that year and framework")
    published_from: date | None = Field(description="The next release that may show it; null when final")


class PendingListOut(BaseModel):
    provider: str
    as_of: date
    lines: list[PendingOut] = Field(description=(
        "Your own records only, per municipality, quarter, framework and indicator, where the published figures "
        "do not show them yet; without 3.2 and herhaald beroep, which depend on other providers' records too"))


@router.get("/reports/providers/{agb}/pending", response_model=PendingListOut,
            responses=problem_responses(401, 403, 404),
            summary="Your records that the published figures do not show yet, and when they may",
            name="reports.provider_pending")
@audited("reports.provider_pending")
def provider_pending(
    request: Request,
    session: dependencies.ReadSession,
    principal: ProviderReportReader,
    runtime: RuntimeDep,
    agb: str = Path(pattern=r"^\d{8}$"),
) -> PendingListOut:
    today = datetime.now(UTC).date()
    lines = pending.pending_lines(session, runtime.publisher, agb, today=today)
    waiting = sum(1 for line in lines if line.status == "waiting")
    audit_context(request).detail = {"lines": len(lines), "waiting": waiting}
    return PendingListOut(provider=agb, as_of=today, lines=[PendingOut(
        municipality=line.municipality, period=line.quarter, framework=line.framework,
        indicator=line.indicator, records=line.records, published_records=line.published_records,
        changed_at_least=line.changed_at_least, status=line.status,
        release=line.release_id, published_from=line.published_from) for line in lines])


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^GM\d{4}$")
    period: str = Field(pattern=PERIOD_PATTERN)
    text: str = Field(min_length=1, max_length=provider_notes.MAX_TEXT,
                      description="The story behind the figures; shown to the municipality. No personal data.")


@router.post("/notes", status_code=201, response_model=NoteOut, responses=problem_responses(400, 401, 403),
             summary="The story behind the figures, for a municipality and period", name="notes.save",
             description=(
                 "Adds or replaces the provider's story for a municipality where it has records (403 otherwise). "
                 "The text is screened for personal data: a BSN, a date of birth, an address with house number, "
                 "an e-mail address or a phone number is refused with 400, each finding an error on `text` "
                 "naming its kind and character position (1-based), never the value; nothing is stored."))
@audited("notes.save")
def save_note(
    body: NoteIn,
    request: Request,
    session: dependencies.DbSession,
    principal: NotesWriter,
    runtime: RuntimeDep,
) -> NoteOut:
    context = audit_context(request)
    context.resource = f"notes/{body.municipality}/{body.period}"
    if body.municipality not in runtime.codelists.municipalities:
        raise Problem(400, "unknown municipality", errors=[{"field": "municipality", "reason": "unknown code"}])
    if "\x00" in body.text:
        raise Problem(400, "the text holds a NUL character", errors=[{"field": "text", "reason": "NUL character"}])
    try:
        row = provider_notes.save(session, provider_id=principal.org_id, municipality=body.municipality,
                                  period=Period.parse(body.period), text=body.text)
    except provider_notes.PersonalData as exc:
        context.detail = {"refused": sorted({f.kind for f in exc.findings})}
        raise Problem(400, f"{exc}; nothing was stored", errors=[
            {"field": "text", "reason": f"looks like {note_screening.ENGLISH[f.kind]} at position {f.position}"}
            for f in exc.findings]) from None
    except provider_notes.NoRecords:
        raise Problem(403, f"you have no records for {body.municipality}; a story is only for municipalities "
                           "where you have records", errors=[{"field": "municipality", "reason": "no records of yours"}]
                      ) from None
    context.detail = {"characters": len(body.text)}
    context.commit(session, 201)
    return NoteOut(provider=row.provider_id, municipality=row.municipality, period=row.period, text=row.text)


@router.delete("/notes/{municipality}/{period}", status_code=204, responses=problem_responses(400, 401, 403, 404),
               summary="Withdraw your story for a municipality and period", name="notes.withdraw")
@audited("notes.withdraw")
def withdraw_note(
    request: Request,
    session: dependencies.DbSession,
    principal: NotesWriter,
    municipality: str = Path(pattern=r"^GM\d{4}$"),
    period: str = Path(pattern=PERIOD_PATTERN),
) -> Response:
    context = audit_context(request)
    context.resource = f"notes/{municipality}/{period}"
    if not provider_notes.withdraw(session, provider_id=principal.org_id, municipality=municipality,
                                   period=Period.parse(period)):
        raise Problem(404, f"no story of yours for {municipality} and {period}")
    context.detail = {"removed": 1}
    context.commit(session, 204)
    return Response(status_code=204)


# ---- the JB/JR process context (seed 004, kaart 2) ------------------------------------------------
_CONTEXT_MAX = process_context.MAX_FIELD


class ProcessContextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality: str = Field(pattern=r"^GM\d{4}$")
    period: str = Field(pattern=PERIOD_PATTERN)
    working_relationship: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Werkrelatie")
    chain_cooperation: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Samenwerking in de keten")
    issues: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Kwesties, zoals wachtlijsten")
    target_group: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Kenmerken van de doelgroep")
    methods: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Gebruikte methoden")
    measurement: str | None = Field(default=None, max_length=_CONTEXT_MAX, description="Meting van de uitkomst")


class ProcessContextOut(BaseModel):
    provider: str
    municipality: str
    period: str
    fields: dict[str, str] = Field(description="The filled fields by name (working_relationship, ...)")
    updated_at: datetime


def _context_out(entry: process_context.Entry) -> ProcessContextOut:
    return ProcessContextOut(provider=entry.provider_id, municipality=entry.municipality, period=entry.period,
                             fields=entry.fields, updated_at=entry.updated_at)


@router.post("/process-context", status_code=201, response_model=ProcessContextOut,
             responses=problem_responses(400, 401, 403), name="process_context.save",
             summary="The JB/JR process context beside the figures, for a municipality and period",
             description=(
                 "Adds or replaces (every field at once) the provider's process context for a municipality where "
                 "it has jeugdbescherming or jeugdreclassering records (403 otherwise). Each field is at most "
                 f"{process_context.MAX_FIELD} characters and screened like a story: personal data is refused with "
                 "400, an error per finding on the field, naming kind and position; nothing is stored."))
@audited("process_context.save")
def save_process_context(
    body: ProcessContextIn,
    request: Request,
    session: dependencies.DbSession,
    principal: NotesWriter,
    runtime: RuntimeDep,
) -> ProcessContextOut:
    context = audit_context(request)
    context.resource = f"process-context/{body.municipality}/{body.period}"
    if body.municipality not in runtime.codelists.municipalities:
        raise Problem(400, "unknown municipality", errors=[{"field": "municipality", "reason": "unknown code"}])
    fields = body.model_dump(include=set(process_context.FIELD_NAMES))
    try:
        entry = process_context.save(session, provider_id=principal.org_id, municipality=body.municipality,
                                     period=Period.parse(body.period), fields=fields)
    except process_context.Invalid as exc:
        raise Problem(400, f"{exc}; nothing was stored", errors=[
            {"field": "body" if name == "fields" else name, "reason": reason}
            for name, reason in exc.errors.items()]) from None
    except process_context.PersonalData as exc:
        context.detail = {"refused": sorted({f.kind for found in exc.findings.values() for f in found})}
        raise Problem(400, "the text looks like it holds personal data; nothing was stored", errors=[
            {"field": name, "reason": f"looks like {note_screening.ENGLISH[f.kind]} at position {f.position}"}
            for name, found in exc.findings.items() for f in found]) from None
    except provider_notes.NoRecords:
        raise Problem(403, f"you have no jeugdbescherming or jeugdreclassering records for {body.municipality}",
                      errors=[{"field": "municipality", "reason": "no JB or JR records of yours"}]) from None
    context.detail = {"fields": sorted(entry.fields)}
    context.commit(session, 201)
    return _context_out(entry)


@router.get("/process-context", response_model=list[ProcessContextOut], responses=problem_responses(401, 403),
            name="process_context.list", summary="Your own JB/JR process contexts")
@audited("process_context.list")
def list_process_contexts(
    request: Request,
    session: dependencies.DbSession,
    principal: NotesWriter,
) -> list[ProcessContextOut]:
    entries = process_context.of_provider(session, principal.org_id)
    audit_context(request).detail = {"count": len(entries)}
    return [_context_out(e) for e in entries]


@router.delete("/process-context/{municipality}/{period}", status_code=204,
               responses=problem_responses(400, 401, 403, 404), name="process_context.withdraw",
               summary="Withdraw your JB/JR process context for a municipality and period")
@audited("process_context.withdraw")
def withdraw_process_context(
    request: Request,
    session: dependencies.DbSession,
    principal: NotesWriter,
    municipality: str = Path(pattern=r"^GM\d{4}$"),
    period: str = Path(pattern=PERIOD_PATTERN),
) -> Response:
    context = audit_context(request)
    context.resource = f"process-context/{municipality}/{period}"
    if not process_context.withdraw(session, provider_id=principal.org_id, municipality=municipality,
                                    period=Period.parse(period)):
        raise Problem(404, f"no process context of yours for {municipality} and {period}")
    context.detail = {"removed": 1}
    context.commit(session, 204)
    return Response(status_code=204)
