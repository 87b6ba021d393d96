"""What the analyst and mirror-report pages show, as rows: one model for the HTML table and its CSV.

Pure functions over :class:`app.reports.cut.Report` cells (already published, already
protected): nothing here computes a figure the release does not hold, except the funnel plot's
control limits (:mod:`app.reports.statistics`) around a published rate. A withheld cell stays a
withheld row, with its threshold and the reason, never a 0.

The CSV holds exactly the rows and columns the page's table shows. It is written for Dutch
spreadsheet software: semicolons between fields and a decimal comma (what Excel and LibreOffice
in a Dutch locale expect when a file is opened by double-click), UTF-8 with a byte order mark
(so "Cliëntervaring" survives), one header line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from app.reports.cut import Report, ReportCellOut
from app.reports.periods import Period
from app.reports.registry import Indicator
from app.reports.statistics import funnel_position
from app.web.charts import MARK, PERCENT, FunnelPoint, PeriodPoint, Scale, number_nl

POSITION_NL = {
    "inside": "binnen de grenzen",
    "above_95": "boven de 95%-grens",
    "above_998": "boven de 99,8%-grens",
    "below_95": "onder de 95%-grens",
    "below_998": "onder de 99,8%-grens",
}
FRAMEWORK_NL = {"jeugdhulp": "Jeugdhulp", "jeugdbescherming": "Jeugdbescherming",
                "jeugdreclassering": "Jeugdreclassering"}
DIMENSION_NL = {"provider": "aanbieder", "hulpvorm": "hulpvorm", "product_category": "productcategorie",
                "age_band": "leeftijdsgroep", "sex": "geslacht", "municipality": "gemeente"}
KIND_NL = {"quarter": "kwartaal", "half": "halfjaar", "year": "jaar"}


def suppressed_reason(threshold: int | None) -> str:
    """Why a cell is withheld, in words; the same words for both reasons, so that a reader cannot
    tell a small cell from one withheld to protect it (the API's reason says the same)."""
    limit = threshold if threshold else 10
    return (f"afgeschermd: minder dan {limit} personen, of af te leiden uit een cel met minder dan {limit} "
            "personen")


def period_nl(period: Period | str) -> str:
    """"2025-Q2" -> "2e kwartaal 2025"; "2025-H1" -> "1e halfjaar 2025"; "2025" -> "2025"."""
    p = Period.parse(period) if isinstance(period, str) else period
    if p.kind == "year":
        return str(p.year)
    return f"{p.number}e {KIND_NL[p.kind]} {p.year}"


def _band_nl(text: str) -> str:
    return text.replace("<=", "hoogstens").replace(">=", "minstens").replace(".", ",")


@dataclass(frozen=True)
class Row:
    """One line of a figures table (an indicator, a category, a period or a provider)."""

    label: str
    code: str
    status: str  # "shown" | "suppressed" | "band" | "empty" (published, nobody in it) | "missing"
    unit: str = "%"  # "%" (a share) or "cijfer" (a mean mark)
    value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int | None = None
    responses: bool = False
    response_rate: float | None = None
    note: str = ""  # the suppression reason, what a band means, completeness
    band: str = ""  # the bound published instead of a value ("hoogstens 7,2%")
    link: str | None = None
    position: str | None = None  # funnel: POSITION_NL key
    extra: Mapping[str, str] = field(default_factory=dict)

    # ---- what a person reads -------------------------------------------------------------
    @property
    def value_text(self) -> str:
        if self.status == "suppressed":
            return "afgeschermd"
        if self.status == "missing":
            return "geen cijfers"
        if self.status == "band":
            return self.band
        if self.value is None:
            return "geen trajecten" if self.n == 0 else "geen waarde"
        return number_nl(self.value) + ("%" if self.unit == "%" else "")

    @property
    def ci_text(self) -> str:
        if self.status != "shown" or self.ci_low is None or self.ci_high is None:
            return ""
        suffix = "%" if self.unit == "%" else ""
        return f"{number_nl(self.ci_low)} – {number_nl(self.ci_high)}{suffix}"

    @property
    def n_text(self) -> str:
        return "" if self.n is None or self.status == "suppressed" else str(self.n)

    @property
    def response_text(self) -> str:
        if not self.responses:
            return "n.v.t."
        if self.response_rate is None:
            return ""
        return number_nl(self.response_rate) + "%"

    @property
    def position_text(self) -> str:
        return POSITION_NL.get(self.position or "", "")


def row_of(cell: ReportCellOut | None, indicator: Indicator, *, label: str, code: str,
           completeness: float | None = None, link: str | None = None) -> Row:
    """The row of one published cell (or of none: "missing")."""
    unit = "%" if indicator.kind == "share" else "cijfer"
    if cell is None:
        return Row(label, code, "missing", unit, responses=indicator.responses, link=link)
    if cell.suppressed:
        return Row(label, code, "suppressed", unit, responses=indicator.responses,
                   note=suppressed_reason(cell.threshold), link=link)
    note = ""
    if completeness is not None and completeness < 100:
        note = (f"voorlopig: van {number_nl(completeness, 0)}% van de beëindigde trajecten is de volgperiode "
                "verstreken")
    if cell.band:
        return Row(label, code, "band", unit, n=cell.denominator, responses=indicator.responses,
                   response_rate=cell.response_rate, band=_band_nl(cell.band), link=link,
                   note="zo weinig personen met of zonder deze uitkomst dat alleen een grens wordt getoond")
    status = "shown" if cell.value is not None else "empty"
    return Row(label, code, status, unit, value=cell.value, ci_low=cell.ci_low, ci_high=cell.ci_high,
               n=cell.denominator, responses=indicator.responses, response_rate=cell.response_rate, note=note,
               link=link)


def cells_by_indicator(report: Report) -> dict[str, dict[tuple[str, str], ReportCellOut]]:
    """indicator -> (dimension, category) -> cell; the total is ("total", "")."""
    out: dict[str, dict[tuple[str, str], ReportCellOut]] = {}
    for cell in report.cells:
        key = next(iter(cell.dimensions.items()), ("total", ""))
        out.setdefault(cell.indicator, {})[key] = cell
    return out


def overview_rows(report: Report, indicators: Sequence[Indicator], base_path: str) -> list[Row]:
    """Every indicator's total for the period; an indicator without a cell is "missing"."""
    cells = cells_by_indicator(report)
    return [row_of(cells.get(i.id, {}).get(("total", "")), i, label=i.name_nl, code=i.id,
                   completeness=report.completeness.get(i.id), link=f"{base_path}/indicator/{i.id}")
            for i in indicators]


def breakdown_rows(report: Report, indicator: Indicator, by: str, label: Callable[[str], str]) -> list[Row]:
    """The total, then every published category of ``by`` in code order."""
    cells = cells_by_indicator(report).get(indicator.id, {})
    rows = [row_of(cells.get(("total", "")), indicator, label="Totaal", code="totaal",
                   completeness=report.completeness.get(indicator.id))]
    for (dimension, category), cell in sorted(cells.items()):
        if dimension != by:
            continue
        rows.append(row_of(cell, indicator, label=label(category), code=category))
    return rows


def series_points(rows: Sequence[Row]) -> list[PeriodPoint]:
    """The chart's points for rows over periods (same order)."""
    points = []
    for row in rows:
        status = row.status if row.status in ("shown", "suppressed", "band") else "missing"
        if status == "band":
            points.append(PeriodPoint(row.code, "band", note=row.band))
        elif status == "missing":
            points.append(PeriodPoint(row.code, "missing", note=row.value_text))
        else:
            points.append(PeriodPoint(row.code, status, row.value, row.ci_low, row.ci_high))
    return points


def scale_for(indicator: Indicator) -> tuple[Scale, str]:
    return (PERCENT, "percentage") if indicator.kind == "share" else (MARK, "gemiddeld rapportcijfer")


@dataclass(frozen=True)
class Funnel:
    target: float  # the unit's own rate, a fraction
    target_row: Row
    rows: list[Row]  # every provider, by AGB
    points: list[FunnelPoint]


def funnel(report: Report, indicator: Indicator, label: Callable[[str], str]) -> Funnel | None:
    """The funnel plot of providers around the unit's own published rate; None when that rate
    is not published or the indicator is not a share. Rows are sorted by AGB, never by rate."""
    if indicator.kind != "share":
        return None
    cells = cells_by_indicator(report).get(indicator.id, {})
    total = cells.get(("total", ""))
    if total is None or total.suppressed or total.value is None or not total.denominator:
        return None
    target = total.value / 100
    rows: list[Row] = []
    points: list[FunnelPoint] = []
    for (dimension, agb), cell in sorted(cells.items()):
        if dimension != "provider":
            continue
        row = row_of(cell, indicator, label=label(agb), code=agb)
        n = row.n
        if row.status == "shown" and row.value is not None and n:
            rate = row.value / 100
            row = replace(row, position=funnel_position(rate, n, target))
            points.append(FunnelPoint(agb, n, rate))
        rows.append(row)
    target_row = row_of(total, indicator, label="Totaal", code="totaal")
    return Funnel(target, target_row, rows, points)


# ---- CSV ------------------------------------------------------------------------------------
CSV_COLUMNS = ("Omschrijving", "Code", "Waarde", "Eenheid", "Betrouwbaarheidsinterval ondergrens",
               "Betrouwbaarheidsinterval bovengrens", "Aantal (noemer)", "Respons", "Toelichting")


def _csv_number(value: float | None) -> str:
    return "" if value is None else number_nl(value)


def csv_text(rows: Iterable[Row], *, first_column: str, extra_columns: Sequence[str] = (),
             context: Mapping[str, str] | None = None) -> str:
    """The rows as the page's table shows them, one line each; ``context`` columns (period,
    release) repeat on every line so a copied line still says where it comes from."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    context = context or {}
    header = [first_column, *CSV_COLUMNS[1:]]
    writer.writerow([*header, *extra_columns, *context])
    for row in rows:
        shown = row.status == "shown"
        writer.writerow([
            row.label, row.code,
            _csv_number(row.value) if shown else row.value_text,
            row.unit,
            _csv_number(row.ci_low) if shown else "",
            _csv_number(row.ci_high) if shown else "",
            row.n_text,
            row.response_text,
            row.note,
            *(row.extra.get(c, "") for c in extra_columns),
            *context.values(),
        ])
    return "\ufeff" + buffer.getvalue()
