"""The analyst's pages (a municipality, its agreed region) and the provider's mirror report.

Thin over the services the API uses: every figure comes from :func:`app.reports.views.read`
(the same cut of the same release as ``GET /v1/reports/...``), every story from
:func:`app.reports.views.stories`. The pages only arrange rows (:mod:`app.web.report_model`)
and draw charts (:mod:`app.web.charts`). Each page also answers ``formaat=csv`` with exactly the
rows of its table.

URL map (Dutch): ``/gemeente/{code}`` (overview), ``.../indicator/{id}`` (over periods),
``.../aanbieders/{id}`` (funnel plot), ``.../uitsplitsing`` (breakdowns), ``.../gesprek/{agb}``
(a printable agenda for a quality conversation); the same under ``/regio/{slug}`` for a member
of an agreed region; the provider's mirror report under ``/aanbieder/{agb}`` (overview,
indicator, uitsplitsing, ``gesprek/{code}``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app import dependencies
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.reports import views
from app.reports.cut import NotYetPublished, PastRetention, Report
from app.reports.periods import PERIOD_PATTERN, Period
from app.reports.registry import Indicator
from app.reports.views import Unit
from app.runtime import Runtime
from app.web import charts
from app.web import report_model as model
from app.web.deps import MunicipalityUser, ProviderUser, WebUser, own_organisation
from app.web.errors import PageError
from app.web.templating import render

router = APIRouter(include_in_schema=False)

Framework = Literal["jeugdhulp", "jeugdbescherming", "jeugdreclassering"]
Format = Literal["html", "csv"]
Series = Literal["kwartaal", "halfjaar", "jaar"]
AreaBy = Literal["provider", "hulpvorm", "product_category", "age_band", "sex"]
WideBy = Literal["provider", "hulpvorm", "product_category", "age_band", "sex", "municipality"]
ProviderBy = Literal["municipality", "hulpvorm", "product_category", "age_band", "sex"]
SERIES_KIND = {"kwartaal": "quarter", "halfjaar": "half", "jaar": "year"}
MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december")
BY_CHOICES: dict[str, tuple[str, ...]] = {
    "municipality": ("provider", "hulpvorm", "product_category", "age_band", "sex"),
    "region": ("provider", "municipality", "hulpvorm", "product_category", "age_band", "sex"),
    "provider": ("municipality", "hulpvorm", "product_category", "age_band", "sex"),
}
QUESTIONS = (
    "Herkennen we het beeld dat de cijfers geven? Wat valt op, en wat verrast?",
    "Wat is het verhaal achter de cijfers: wachtlijsten, personeel, de doelgroep, de manier van registreren?",
    "Hoe hoog is de respons, en wie ontbreken er in de cijfers? Wat betekent dat voor de conclusies?",
    "Welke cellen zijn afgeschermd, en welke vragen kunnen we daardoor (nog) niet beantwoorden?",
    "Wat gaat goed, wat wil de aanbieder verbeteren, en wat heeft de aanbieder daarvoor van de gemeente nodig?",
    "Welke afspraken maken we, en wanneer kijken we er samen opnieuw naar?",
)
JBJR_QUESTIONS = (
    "Hoe verliepen de samenwerking met het gezin en de samenwerking in de keten?",
    "Welke kwesties (zoals wachtlijsten of capaciteit) speelden in deze periode?",
)
PeriodQuery = Query(default=None, pattern=PERIOD_PATTERN)
CODE = Path(pattern=r"^GM\d{4}$")
AGB = Path(pattern=r"^\d{8}$")
SLUG = Path(pattern=r"^[a-z0-9-]{1,60}$")
INDICATOR = Path(pattern=r"^[a-z0-9.]{1,40}$")


class Unavailable(Exception):
    """No figures to show (not yet published, past retention, nothing published yet)."""

    def __init__(self, status: int, message: str, first_publication: date | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.first_publication = status, message, first_publication


# ---- words and dates ----------------------------------------------------------------------------
def date_nl(value: date | datetime) -> str:
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, datetime):
        text += f" om {value.astimezone(UTC):%H:%M} uur (UTC)"
    return text


def unit_title(unit: Unit) -> str:
    if unit.kind == "municipality":
        return f"Gemeente {unit.name}"
    if unit.kind == "region":
        return f"Regio {unit.name}"
    return f"Aanbieder {unit.id}"


def base_path(unit: Unit) -> str:
    return {"municipality": "/gemeente/", "region": "/regio/", "provider": "/aanbieder/"}[unit.kind] + unit.id


def category_labels(runtime: Runtime, by: str) -> Callable[[str], str]:
    """Readable names of a breakdown's categories (codes stay beside them)."""
    codelists = runtime.codelists
    if by == "provider":
        return lambda agb: f"Aanbieder {agb}"
    if by == "municipality":
        names = {code: m.name for code, m in codelists.municipalities.items()}
    else:
        lists: Mapping[str, Mapping[str, str]] = {"hulpvorm": codelists.hulpvorm,
                                                  "product_category": codelists.product_category,
                                                  "age_band": codelists.age_band, "sex": codelists.sex}
        names = dict(lists[by])
    return lambda code: f"{names[code]} ({code})" if code in names else code


# ---- the parts every page shares --------------------------------------------------------------
@dataclass
class Frame:
    """A page's unit, period and framework, and the release its figures come from."""

    request: Request
    session: Session
    runtime: Runtime
    unit: Unit
    framework: str
    period: Period
    published: list[Period]

    @property
    def base(self) -> str:
        return base_path(self.unit)

    def read(self, by: str | None, period: Period | None = None) -> Report:
        try:
            return views.read(self.session, self.runtime, self.unit, period=period or self.period,
                              framework=self.framework, by=by)
        except NotYetPublished as exc:
            raise Unavailable(409, f"De cijfers over {model.period_nl(period or self.period)} zijn nog niet "
                                   "gepubliceerd.", exc.first_publication) from None
        except PastRetention:
            raise Unavailable(410, f"De gegevens over {model.period_nl(period or self.period)} zijn na hun "
                                   "bewaartermijn verwijderd; er worden geen cijfers meer over getoond.") from None

    def indicators(self) -> list[Indicator]:
        return self.runtime.publisher.registry.for_framework(self.framework)

    def indicator(self, indicator_id: str) -> Indicator:
        found = next((i for i in self.indicators() if i.id == indicator_id), None)
        if found is None:
            raise PageError(404, "Deze indicator bestaat niet in dit kader.")
        return found


#: The period a framework is reported over (DOMAIN.md): half-years for jeugdhulp and JB, quarters for JR.
NATURAL_KIND = {"jeugdhulp": "half", "jeugdbescherming": "half", "jeugdreclassering": "quarter"}


def default_period(published: Sequence[Period], framework: str) -> Period:
    """The latest published period of the framework's own length (or a year ending with it),
    so a page opens on the newest figures that are not mostly withheld; else the latest of any."""
    natural = [p for p in published if p.kind in (NATURAL_KIND[framework], "year")]
    return max(natural or published, key=views.chronological)


def frame(request: Request, session: Session, runtime: Runtime, unit: Unit, framework: str,
          period: str | None) -> Frame:
    published = views.published_periods(session, unit, framework)
    if period is not None:
        chosen = Period.parse(period)
    elif published:
        chosen = default_period(published, framework)
    else:
        next_slot = runtime.publisher.calendar.next_slot(datetime.now(UTC).date())
        raise Unavailable(409, f"Er zijn nog geen cijfers over {model.FRAMEWORK_NL[framework].lower()} "
                               f"gepubliceerd voor {unit_title(unit)}.", next_slot)
    context = audit_context(request)
    context.purpose = "outcome-monitoring"
    return Frame(request, session, runtime, unit, framework, chosen, published)


def _audit(fr: Frame, reports: Sequence[Report]) -> None:
    context = audit_context(fr.request)
    context.detail = {
        "cells": sum(len(r.cells) for r in reports),
        "suppressed": sum(c.suppressed for r in reports for c in r.cells),
        "period": str(fr.period), "release": reports[0].release.id if reports else None,
    }


def _page(fr: Frame, template: str, report: Report | None, **context: Any) -> Response:
    return render(fr.request, template, unit=fr.unit, unit_title=unit_title(fr.unit), base=fr.base,
                  framework=fr.framework, frameworks=model.FRAMEWORK_NL, period=fr.period, published=fr.published,
                  report=report, period_nl=model.period_nl, date_nl=date_nl, by_names=model.DIMENSION_NL,
                  **context)


def _csv(fr: Frame, rows: Sequence[model.Row], name: str, first_column: str, report: Report | None,
         extra_columns: Sequence[str] = ()) -> Response:
    context = {"Periode": str(fr.period)}
    if report is not None:
        context["Publicatie"] = report.release.id
    body = model.csv_text(rows, first_column=first_column, extra_columns=extra_columns, context=context)
    filename = f"{fr.unit.id}-{name}-{fr.period}.csv"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _serve(request: Request, session: Session, unit: Unit, framework: str, page: Callable[[], Response]) -> Response:
    try:
        return page()
    except Unavailable as exc:
        audit_context(request).detail = {"unavailable": exc.status}
        return render(request, "report/unavailable.html", status_code=exc.status, unit=unit,
                      unit_title=unit_title(unit), base=base_path(unit), framework=framework,
                      frameworks=model.FRAMEWORK_NL, message=exc.message, first_publication=exc.first_publication,
                      published=views.published_periods(session, unit, framework),
                      period_nl=model.period_nl, date_nl=date_nl)


# ---- the pages ----------------------------------------------------------------------------------
def overview_page(fr: Frame, fmt: str) -> Response:
    report = fr.read(None)
    _audit(fr, [report])
    rows = model.overview_rows(report, fr.indicators(), fr.base)
    if fmt == "csv":
        return _csv(fr, rows, "overzicht", "Indicator", report)
    stories = views.stories(fr.session, fr.unit, fr.period)
    contexts = process_contexts(fr)
    funnel_ids = {i.id for i in fr.indicators() if i.kind == "share"} if fr.unit.kind != "provider" else set()
    return _page(fr, "report/overview.html", report, rows=rows, stories=stories, contexts=contexts,
                 funnel_ids=funnel_ids, by_choices=BY_CHOICES[fr.unit.kind])


def indicator_page(fr: Frame, indicator_id: str, series: str, fmt: str) -> Response:
    indicator = fr.indicator(indicator_id)
    kind = SERIES_KIND[series]
    periods = [p for p in fr.published if p.kind == kind]
    reports: list[Report] = []
    rows: list[model.Row] = []
    for period in periods:
        try:
            report = fr.read(None, period)
        except Unavailable:
            rows.append(model.Row(model.period_nl(period), str(period), "missing"))
            continue
        reports.append(report)
        cell = model.cells_by_indicator(report).get(indicator.id, {}).get(("total", ""))
        rows.append(model.row_of(cell, indicator, label=model.period_nl(period), code=str(period),
                                 completeness=report.completeness.get(indicator.id)))
    _audit(fr, reports)
    if fmt == "csv":
        return _csv(fr, rows, f"indicator-{indicator.id}-{series}", "Periode", reports[-1] if reports else None)
    scale, axis = model.scale_for(indicator)
    shown = [r for r in rows if r.status == "shown"]
    description = (f"{indicator.name_nl} per {series} voor {unit_title(fr.unit)}, met het 95%-betrouwbaarheidsinterval "
                   f"als verticale lijn. {len(shown)} van de {len(rows)} perioden hebben een gepubliceerde waarde; "
                   "afgeschermde perioden zijn als lege, gestippelde vlakken getekend. De tabel hieronder geeft "
                   "dezelfde cijfers.")
    chart = charts.period_chart(f"grafiek-{indicator.id.replace('.', '-')}", f"{indicator.name_nl} per {series}",
                                description, model.series_points(rows), scale, axis) if rows else None
    return _page(fr, "report/indicator.html", reports[-1] if reports else None, indicator=indicator, rows=rows,
                 chart=chart, series=series, series_choices=SERIES_KIND,
                 has_funnel=indicator.kind == "share" and fr.unit.kind != "provider")


def funnel_page(fr: Frame, indicator_id: str, fmt: str) -> Response:
    indicator = fr.indicator(indicator_id)
    report = fr.read("provider")
    _audit(fr, [report])
    labels = category_labels(fr.runtime, "provider")
    funnel = model.funnel(report, indicator, labels)
    rows = funnel.rows if funnel else []
    if fmt == "csv":
        extra = [replace(r, extra={"Ligging": r.position_text}) for r in rows]
        return _csv(fr, extra, f"aanbieders-{indicator.id}", "Aanbieder", report, extra_columns=("Ligging",))
    chart = None
    if funnel is not None:
        description = (f"Trechterdiagram van {indicator.name_nl.lower()} per aanbieder in {unit_title(fr.unit)}: "
                       f"horizontaal het aantal trajecten (noemer), verticaal het percentage. De doorgetrokken lijn "
                       f"is het eigen percentage ({charts.number_nl(100 * funnel.target)}%), de gestreepte en "
                       "gestippelde lijnen de 95%- en 99,8%-grenzen. "
                       f"{len(funnel.points)} aanbieders staan als punt in de figuur; de tabel hieronder noemt ze "
                       "allemaal, op AGB-code.")
        chart = charts.funnel_chart(f"trechter-{indicator.id.replace('.', '-')}",
                                    f"{indicator.name_nl}: aanbieders rond het eigen percentage", description,
                                    funnel.target, funnel.points, n_from=report.threshold or 10,
                                    centre_label="eigen percentage")
    stories: dict[str, list[Any]] = {}
    for note in views.stories(fr.session, fr.unit, fr.period):
        stories.setdefault(note.provider_id, []).append(note)
    return _page(fr, "report/funnel.html", report, indicator=indicator, funnel=funnel, rows=rows, chart=chart,
                 stories=stories)


def breakdown_page(fr: Frame, by: str, indicator_id: str | None, fmt: str) -> Response:
    indicator = fr.indicator(indicator_id) if indicator_id else fr.indicators()[0]
    report = fr.read(by)
    _audit(fr, [report])
    rows = model.breakdown_rows(report, indicator, by, category_labels(fr.runtime, by))
    if fmt == "csv":
        return _csv(fr, rows, f"uitsplitsing-{by}-{indicator.id}", model.DIMENSION_NL[by].capitalize(), report)
    stories = views.stories(fr.session, fr.unit, fr.period) if by in ("provider", "municipality") else []
    return _page(fr, "report/breakdown.html", report, indicator=indicator, rows=rows, by=by,
                 by_choices=BY_CHOICES[fr.unit.kind], indicators=fr.indicators(), stories=stories)


def agenda_page(fr: Frame, other: str, fmt: str) -> Response:
    """A printable agenda for a quality conversation between the unit and one counterpart: a
    provider (for a municipality or region) or a municipality (for a provider)."""
    by = "municipality" if fr.unit.kind == "provider" else "provider"
    report = fr.read(by)
    _audit(fr, [report])
    cells = model.cells_by_indicator(report)
    rows: list[model.Row] = []
    for indicator in fr.indicators():
        mine = cells.get(indicator.id, {})
        total = model.row_of(mine.get(("total", "")), indicator, label="", code="")
        row = model.row_of(mine.get((by, other)), indicator, label=indicator.name_nl, code=indicator.id)
        rows.append(replace(row, extra={"Totaal": total.value_text}))
    if fr.unit.kind == "provider":
        municipality = fr.runtime.codelists.municipalities.get(other)
        other_title = f"Gemeente {municipality.name}" if municipality else other
        municipalities, providers = [other], [fr.unit.id]
    else:
        other_title = f"Aanbieder {other}"
        municipalities, providers = list(fr.unit.municipalities), [other]
    if fmt == "csv":
        return _csv(fr, rows, f"gesprek-{other}", "Indicator", report, extra_columns=("Totaal",))
    stories = [n for n in views.stories(fr.session, fr.unit, fr.period)
               if n.provider_id in providers and n.municipality in municipalities]
    contexts = [c for c in process_contexts(fr) if c.provider in providers and c.municipality in municipalities]
    questions = QUESTIONS[:-1] + (JBJR_QUESTIONS if fr.framework != "jeugdhulp" else ()) + QUESTIONS[-1:]
    total_label = ("alle gemeenten van de aanbieder" if fr.unit.kind == "provider"
                   else f"{unit_title(fr.unit)}, alle aanbieders")
    return _page(fr, "report/agenda.html", report, rows=rows, other=other, other_title=other_title,
                 stories=stories, contexts=contexts, questions=questions, total_label=total_label,
                 next_release=report.release.next_release)


# ---- JB/JR process context (app.reports.process_context, when present) -------------------------
@dataclass(frozen=True)
class ContextShown:
    provider: str
    municipality: str
    period: str
    fields: list[tuple[str, str]]


def process_contexts(fr: Frame) -> list[ContextShown]:
    """The providers' JB/JR process context beside JB/JR figures (none for jeugdhulp)."""
    if fr.framework == "jeugdhulp":
        return []
    try:
        process_context = importlib.import_module("app.reports.process_context")
    except ImportError:  # helper C's module lands later; until then there is no context to show
        return []
    found = process_context.overlapping(fr.session, municipalities=fr.unit.municipalities, period=fr.period,
                                        providers=fr.unit.providers)
    return [ContextShown(item.provider_id, item.municipality, item.period, list(item.labelled()))
            for item in found if getattr(item, "framework", fr.framework) in ("jbjr", fr.framework)]


# ---- endpoints: a municipality ----------------------------------------------------------------
def _municipality(user: WebUser, code: str, runtime: Runtime) -> Unit:
    own_organisation(user, code)
    return views.municipality_unit(code, runtime)


def _region(user: WebUser, slug: str, runtime: Runtime) -> Unit:
    unit = views.region_unit(user.principal.org_id, slug, runtime)
    if unit is None:
        raise PageError(404, "Deze pagina bestaat niet of is niet voor u.")
    return unit


def _provider(user: WebUser, agb: str, runtime: Runtime) -> Unit:
    own_organisation(user, agb)
    return views.provider_unit(agb, runtime)


def _run(request: Request, session: Session, runtime: Runtime, unit: Unit, framework: str | None,
         period: str | None, page: Callable[[Frame], Response]) -> Response:
    chosen = framework or first_framework(session, unit)
    return _serve(request, session, unit, chosen, lambda: page(frame(request, session, runtime, unit, chosen, period)))


def first_framework(session: Session, unit: Unit) -> str:
    """Without a chosen framework: jeugdhulp, unless the unit has figures only for JB or JR (a
    certified institution's mirror report opens on its own figures, not on an empty page)."""
    for framework in model.FRAMEWORK_NL:
        if views.published_periods(session, unit, framework):
            return framework
    return "jeugdhulp"


@router.get("/gemeente/{code}", name="page.municipality.overview")
@audited("page.municipality.overview")
def municipality_overview(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                          runtime: RuntimeDep, code: str = CODE, periode: str | None = PeriodQuery,
                          kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _municipality(user, code, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: overview_page(fr, formaat))


@router.get("/gemeente/{code}/indicator/{indicator}", name="page.municipality.indicator")
@audited("page.municipality.indicator")
def municipality_indicator(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                           runtime: RuntimeDep, code: str = CODE, indicator: str = INDICATOR,
                           periode: str | None = PeriodQuery, kader: Framework | None = None,
                           per: Series = "kwartaal", formaat: Format = "html") -> Response:
    unit = _municipality(user, code, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: indicator_page(fr, indicator, per, formaat))


@router.get("/gemeente/{code}/aanbieders/{indicator}", name="page.municipality.funnel")
@audited("page.municipality.funnel")
def municipality_funnel(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                        runtime: RuntimeDep, code: str = CODE, indicator: str = INDICATOR,
                        periode: str | None = PeriodQuery, kader: Framework | None = None,
                        formaat: Format = "html") -> Response:
    unit = _municipality(user, code, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: funnel_page(fr, indicator, formaat))


@router.get("/gemeente/{code}/uitsplitsing", name="page.municipality.breakdown")
@audited("page.municipality.breakdown")
def municipality_breakdown(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                           runtime: RuntimeDep, code: str = CODE, naar: AreaBy = "provider",
                           indicator: str | None = Query(default=None, pattern=r"^[a-z0-9.]{1,40}$"),
                           periode: str | None = PeriodQuery, kader: Framework | None = None,
                           formaat: Format = "html") -> Response:
    unit = _municipality(user, code, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: breakdown_page(fr, naar, indicator, formaat))


@router.get("/gemeente/{code}/gesprek/{agb}", name="page.municipality.agenda")
@audited("page.municipality.agenda")
def municipality_agenda(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                        runtime: RuntimeDep, code: str = CODE, agb: str = AGB, periode: str | None = PeriodQuery,
                        kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _municipality(user, code, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: agenda_page(fr, agb, formaat))


# ---- endpoints: a region (its members, when the region agreed) ----------------------------------
@router.get("/regio/{slug}", name="page.region.overview")
@audited("page.region.overview")
def region_overview(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                    runtime: RuntimeDep, slug: str = SLUG, periode: str | None = PeriodQuery,
                    kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _region(user, slug, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: overview_page(fr, formaat))


@router.get("/regio/{slug}/indicator/{indicator}", name="page.region.indicator")
@audited("page.region.indicator")
def region_indicator(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                     runtime: RuntimeDep, slug: str = SLUG, indicator: str = INDICATOR,
                     periode: str | None = PeriodQuery, kader: Framework | None = None, per: Series = "kwartaal",
                     formaat: Format = "html") -> Response:
    unit = _region(user, slug, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: indicator_page(fr, indicator, per, formaat))


@router.get("/regio/{slug}/aanbieders/{indicator}", name="page.region.funnel")
@audited("page.region.funnel")
def region_funnel(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                  runtime: RuntimeDep, slug: str = SLUG, indicator: str = INDICATOR,
                  periode: str | None = PeriodQuery, kader: Framework | None = None,
                  formaat: Format = "html") -> Response:
    unit = _region(user, slug, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: funnel_page(fr, indicator, formaat))


@router.get("/regio/{slug}/uitsplitsing", name="page.region.breakdown")
@audited("page.region.breakdown")
def region_breakdown(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                     runtime: RuntimeDep, slug: str = SLUG, naar: WideBy = "provider",
                     indicator: str | None = Query(default=None, pattern=r"^[a-z0-9.]{1,40}$"),
                     periode: str | None = PeriodQuery, kader: Framework | None = None,
                     formaat: Format = "html") -> Response:
    unit = _region(user, slug, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: breakdown_page(fr, naar, indicator, formaat))


@router.get("/regio/{slug}/gesprek/{agb}", name="page.region.agenda")
@audited("page.region.agenda")
def region_agenda(request: Request, user: MunicipalityUser, session: dependencies.ReadSession,
                  runtime: RuntimeDep, slug: str = SLUG, agb: str = AGB, periode: str | None = PeriodQuery,
                  kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _region(user, slug, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: agenda_page(fr, agb, formaat))


# ---- endpoints: a provider's mirror report ------------------------------------------------------
@router.get("/aanbieder/{agb}", name="page.provider.overview")
@audited("page.provider.overview")
def provider_overview(request: Request, user: ProviderUser, session: dependencies.ReadSession,
                      runtime: RuntimeDep, agb: str = AGB, periode: str | None = PeriodQuery,
                      kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _provider(user, agb, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: overview_page(fr, formaat))


@router.get("/aanbieder/{agb}/indicator/{indicator}", name="page.provider.indicator")
@audited("page.provider.indicator")
def provider_indicator(request: Request, user: ProviderUser, session: dependencies.ReadSession,
                       runtime: RuntimeDep, agb: str = AGB, indicator: str = INDICATOR,
                       periode: str | None = PeriodQuery, kader: Framework | None = None, per: Series = "kwartaal",
                       formaat: Format = "html") -> Response:
    unit = _provider(user, agb, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: indicator_page(fr, indicator, per, formaat))


@router.get("/aanbieder/{agb}/uitsplitsing", name="page.provider.breakdown")
@audited("page.provider.breakdown")
def provider_breakdown(request: Request, user: ProviderUser, session: dependencies.ReadSession,
                       runtime: RuntimeDep, agb: str = AGB, naar: ProviderBy = "municipality",
                       indicator: str | None = Query(default=None, pattern=r"^[a-z0-9.]{1,40}$"),
                       periode: str | None = PeriodQuery, kader: Framework | None = None,
                       formaat: Format = "html") -> Response:
    unit = _provider(user, agb, runtime)
    return _run(request, session, runtime, unit, kader, periode,
                lambda fr: breakdown_page(fr, naar, indicator, formaat))


@router.get("/aanbieder/{agb}/gesprek/{code}", name="page.provider.agenda")
@audited("page.provider.agenda")
def provider_agenda(request: Request, user: ProviderUser, session: dependencies.ReadSession,
                    runtime: RuntimeDep, agb: str = AGB, code: str = CODE, periode: str | None = PeriodQuery,
                    kader: Framework | None = None, formaat: Format = "html") -> Response:
    unit = _provider(user, agb, runtime)
    return _run(request, session, runtime, unit, kader, periode, lambda fr: agenda_page(fr, code, formaat))
