"""Cutting a report out of its family's current release: the cells of one unit, period and
breakdown, exactly as the release stored them (nothing is computed on a request)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from app.reports import releases
from app.reports.calendar import Calendar
from app.reports.disclosure import TOTAL, CellKey
from app.reports.families import Family
from app.reports.periods import Period
from app.reports.registry import Registry
from app.reports.releases import SUPPRESSED_REASON, key_of


@dataclass
class ReportCellOut:
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
    band: str | None = None
    reason: str | None = None
    threshold: int | None = None  # the minimum cell size that applies to this cell


@dataclass(frozen=True)
class ReleaseRef:
    """Which release a report comes from, and when the next is due."""

    id: str
    sequence: int
    published_at: datetime
    next_release: date


@dataclass
class Report:
    unit: str
    period: str
    framework: str
    by: str | None
    threshold: int
    as_of: datetime
    release: ReleaseRef
    cells: list[ReportCellOut] = field(default_factory=list)
    completeness: dict[str, float | None] = field(default_factory=dict)


class PastRetention(Exception):
    """The period's records are past retention and removed: no report counts them any more."""


def past_retention(period: Period, records_months: int, today: date) -> bool:
    """Whether the first records of ``period`` have passed their retention (they are removed in
    the month ``records_months`` after their end, so a report of the period would count fewer)."""
    first_month = int(period.quarters[0][-1]) * 3 - 2
    months = (today.year - period.year) * 12 + today.month - first_month
    return months >= records_months


class NotYetPublished(Exception):
    """The period has no release yet; ``first_publication`` says when it is due."""

    def __init__(self, period: str, first_publication: date) -> None:
        when = "is being prepared" if first_publication <= datetime.now().date() else "has not been published yet"
        super().__init__(f"{period} {when}; its figures are first published on {first_publication.isoformat()}")
        self.first_publication = first_publication


def cut(
    session: Session,
    *,
    registry: Registry,
    calendar: Calendar,
    family: Family,
    unit: str,
    period: Period,
    framework: str,
    by: str | None,
    categories_from: Sequence[str] | None = None,
    records_months: int | None = None,
) -> Report:
    """The report for ``unit`` and ``period`` (one ``by`` breakdown), cut from the family's current
    release; :class:`NotYetPublished` when that release does not publish the period,
    :class:`PastRetention` when its records are past ``records_months``."""
    if records_months is not None and past_retention(period, records_months, datetime.now().date()):
        raise PastRetention(f"the records of {period} are past their retention ({records_months} months) and "
                            "removed; no report counts them any more")
    release = releases.current(session, family.key, period.year, framework)
    if release is None or str(period) not in release.periods:
        raise NotYetPublished(str(period), calendar.first_publication(period))
    report = Report(unit=unit, period=str(period), framework=framework, by=by, threshold=0, as_of=release.as_of,
                    release=ReleaseRef(release.release_id, release.sequence, release.published_at,
                                       calendar.next_slot(max(release.slot, datetime.now().date()))))
    thresholds: list[int] = []
    content = release.content
    for indicator in registry.for_framework(framework):
        shown: Mapping[str, Any] | None = content["cells"].get(indicator.id)
        if shown is None:
            continue
        for key in _keys(shown, unit, str(period), by, categories_from):
            cell = shown[releases.key_text(key)]
            thresholds.append(cell["threshold"])
            dims = {} if key.dimension == TOTAL else {key.dimension: key.category}
            if by == "municipality" and family.kind == "area" and key.unit != unit:  # a member's total
                dims = {"municipality": key.unit}
            out = ReportCellOut(dimensions=dims, indicator=indicator.id, suppressed=cell["suppressed"],
                                threshold=cell["threshold"])
            if cell["suppressed"]:
                out.reason = SUPPRESSED_REASON
            else:
                for name in ("denominator", "numerator", "value", "ci_low", "ci_high", "responses",
                             "response_rate", "band"):
                    setattr(out, name, cell.get(name))
            report.cells.append(out)
        if indicator.id in content["completeness"] and indicator.id not in report.completeness:
            report.completeness[indicator.id] = content["completeness"][indicator.id].get(f"{unit}\t{period}")
    report.threshold = max(thresholds) if thresholds else 0
    return report


def _keys(shown: Mapping[str, Any], unit: str, period: str, by: str | None,
          categories_from: Sequence[str] | None) -> list[CellKey]:
    total = CellKey(unit, period)
    keys: list[CellKey] = [total] if releases.key_text(total) in shown else []
    if by is None:
        return keys
    if categories_from is not None:  # a region broken down by municipality: the members' totals
        keys += [CellKey(m, period) for m in categories_from if releases.key_text(CellKey(m, period)) in shown]
        return keys
    prefix = f"{unit}\t{period}\t{by}\t"
    keys += sorted(key_of(text) for text in shown if text.startswith(prefix))
    return keys
