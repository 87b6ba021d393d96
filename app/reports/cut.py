"""Cutting a report out of its family's release: the cells of one unit, period and breakdown,
with the figures each published cell shows (share or mean, interval, response rate, band)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.reports.disclosure import TOTAL, CellKey, ProtectedTables
from app.reports.families import Family
from app.reports.family_protection import ProtectedGroup, indicator_groups
from app.reports.periods import Period
from app.reports.registry import Indicator
from app.reports.release_cache import ReleaseCache


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


@dataclass
class Report:
    unit: str
    period: str
    framework: str
    by: str | None
    threshold: int
    as_of: datetime
    cells: list[ReportCellOut] = field(default_factory=list)
    completeness: dict[str, float | None] = field(default_factory=dict)


SUPPRESSED_REASON = "below the minimum cell size, or would let such a cell be derived"


def cut(
    releases: ReleaseCache,
    session: Session,
    *,
    family: Family,
    unit: str,
    period: Period,
    framework: str,
    by: str | None,
    categories_from: Sequence[str] | None = None,
) -> Report:
    """The report for ``unit`` and ``period`` (one ``by`` breakdown), cut from protected families."""
    configuration = releases.configuration
    cutoff = configuration.indicators.satisfaction_cutoff
    release = releases.release(session, family, period.year, framework)
    report = Report(unit=unit, period=str(period), framework=framework, by=by, threshold=0, as_of=release.as_of)
    thresholds: list[int] = []
    for group in indicator_groups(releases.registry, framework):
        protected = release.groups[tuple(i.id for i in group)]
        for indicator in group:
            tables = protected.tables.get(indicator.id)
            if tables is None:
                continue
            keys = _keys(tables.cells, unit, str(period), by, categories_from)
            for key in keys:
                cell = tables.cells[key]
                thresholds.append(cell.threshold)
                dims = {} if key.dimension == TOTAL else {key.dimension: key.category}
                if by == "municipality" and family.kind == "area" and key.unit != unit:  # a member's total
                    dims = {"municipality": key.unit}
                out = ReportCellOut(dimensions=dims, indicator=indicator.id, suppressed=cell.suppressed)
                if cell.suppressed:
                    out.reason = SUPPRESSED_REASON
                else:
                    _fill(out, indicator, cell, protected, key, cutoff)
                report.cells.append(out)
            if indicator.source in ("3.2", "jbjr.repeat") and not report.completeness.get(indicator.id):
                report.completeness[indicator.id] = _completeness(protected, tables, unit, str(period))
    if thresholds:
        report.threshold = max(thresholds)
    else:
        report.threshold = configuration.threshold_for(unit)
    return report


def _keys(cells: Mapping[Hashable, Any], unit: str, period: str, by: str | None,
          categories_from: Sequence[str] | None) -> list[CellKey]:
    total = CellKey(unit, period)
    keys: list[CellKey] = [total] if total in cells else []
    if by is None:
        return keys
    if categories_from is not None:  # a region broken down by municipality: the members' totals
        keys += [CellKey(m, period) for m in categories_from if CellKey(m, period) in cells]
        return keys
    keys += sorted(k for k in cells if isinstance(k, CellKey) and k.unit == unit and k.period == period
                   and k.dimension == by)
    return keys


def _fill(out: ReportCellOut, indicator: Indicator, cell: Any, protected: ProtectedGroup, key: CellKey,
          cutoff: int) -> None:
    values = protected.values.get(key, Counter())
    figures = indicator.figures(values, cutoff=cutoff)
    out.denominator = cell.denominator
    if cell.band is not None:
        out.band = cell.band.share_label if indicator.kind == "share" else None
        out.numerator = None
        out.value = None
    elif indicator.kind == "share":
        out.numerator = cell.numerator
        out.value = figures.value
        out.ci_low, out.ci_high = figures.ci_low, figures.ci_high
    else:
        out.value = figures.value
        out.ci_low, out.ci_high = figures.ci_low, figures.ci_high
    if indicator.responses:
        out.responses = cell.denominator
        population = protected.population.cells.get(key) if protected.population else None
        everyone = protected.population_counts.get(key)
        if population is not None and not population.suppressed and everyone and figures.denominator is not None:
            out.response_rate = round(100 * figures.denominator / everyone, 1)


def _completeness(protected: ProtectedGroup, tables: ProtectedTables, unit: str, period: str) -> float | None:
    """Share of ended trajectories whose linkage has settled (the rest wait for their window)."""
    total = CellKey(unit, period)
    if total not in tables.cells or tables.cells[total].suppressed:
        return None
    values = protected.values.get(total, Counter())
    pending = values.get("pending", 0)
    settled = sum(n for v, n in values.items() if v != "pending")
    if settled + pending == 0:
        return None
    return round(100 * settled / (settled + pending))
