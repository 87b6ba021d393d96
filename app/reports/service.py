"""Reports: read the aggregate store, protect whole families, and cut out what was asked.

Suppression protects nothing if it is judged one table at a time (DESIGN.md, "Who already knows
what"). So a report is never protected on its own: the *family* it belongs to is — everything
any party can obtain for one indicator, one year and one framework from the same data:

- a municipality in a region that agreed to regional reports: every member municipality and the
  region, with every breakdown, every quarter, half-year and year;
- any other municipality: itself, with every breakdown and period;
- a provider (its mirror report): itself across municipalities, with every breakdown and period.

A family is protected for a whole year and framework at once, from one snapshot of the store (a
:class:`Release`): every indicator, and the population behind response rates. Indicators whose
cells and denominators are the same share one pattern (2 and 2.satisfied always; 1 and 3.2 once
every follow-up window of the year has passed), or one table could uncover the other.

Releases are cached per family. When the store has changed since (its generation moved on), a
new release is prepared in the background while requests keep getting the last one, each
report saying when its snapshot was taken (``as_of``). Only a family never released before makes
a request wait, and past ``wait_seconds`` that request gets 503 with ``Retry-After``: nothing is
ever shown unprotected. So every report of a family is cut from one and the same pattern, the
same question always gets the same answer, and a repeated request costs a dictionary lookup.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.models import ReportCell, StoreState
from app.privacy.configuration import PrivacyConfiguration
from app.records.codelists import CodeLists
from app.reports.disclosure import (
    TOTAL,
    CellCounts,
    CellKey,
    LinkedTables,
    ProtectedTables,
    SuppressionPolicy,
    build_linked_tables,
    protect_shared_denominator,
)
from app.reports.periods import Period
from app.reports.registry import FRAMEWORKS, Indicator, Registry

AREA_DIMENSIONS = ("provider", "hulpvorm", "product_category", "age_band", "sex")
PROVIDER_DIMENSIONS = ("municipality", "hulpvorm", "product_category", "age_band", "sex")
_STORE_COLUMNS = {
    "provider": ReportCell.provider_id, "municipality": ReportCell.municipality, "hulpvorm": ReportCell.hulpvorm,
    "product_category": ReportCell.product_category, "age_band": ReportCell.age_band, "sex": ReportCell.sex,
}
UNKNOWN = "unknown"
GENERATION = "generation"
#: The population of a framework: every ended trajectory (for response rates).
POPULATION_SOURCE = {"jeugdhulp": "1", "jeugdbescherming": "jbjr.end_reason", "jeugdreclassering": "jbjr.end_reason"}
log = logging.getLogger("ttp.reports")


def region_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@dataclass(frozen=True)
class Family:
    """What one protection run covers."""

    key: str
    kind: str  # "area" | "provider"
    municipalities: tuple[str, ...]
    regions: Mapping[str, tuple[str, ...]]
    provider: str | None = None

    @property
    def dimensions(self) -> tuple[str, ...]:
        return PROVIDER_DIMENSIONS if self.kind == "provider" else AREA_DIMENSIONS


def area_family(municipality: str, codelists: CodeLists, configuration: PrivacyConfiguration) -> Family:
    region = codelists.region_of(municipality)
    if region and region in configuration.regions.reporting_agreed:
        members = tuple(codelists.regions[region])
        return Family(f"region:{region}", "area", members, {region_slug(region): members})
    return Family(f"municipality:{municipality}", "area", (municipality,), {})


def provider_family(agb: str) -> Family:
    return Family(f"provider:{agb}", "provider", (), {}, provider=agb)


@dataclass(frozen=True)
class ProtectedGroup:
    """The protected family of one group of indicators sharing a denominator."""

    indicators: tuple[Indicator, ...]
    tables: Mapping[str, ProtectedTables]  # per indicator id
    values: Mapping[CellKey, Counter[str]]  # true value counts per cell (for means and intervals)
    population: ProtectedTables | None
    population_counts: Mapping[CellKey, int]
    seconds: float


@dataclass(frozen=True)
class Release:
    """Everything one family may show for one year and framework, protected from one snapshot."""

    generation: int
    as_of: datetime
    groups: Mapping[tuple[str, ...], ProtectedGroup]  # per group of indicator ids
    seconds: float


def _signature(linked: LinkedTables) -> tuple[Any, ...]:
    """Cells and denominators: families with the same signature must share a pattern."""
    return linked.keys, tuple(c.denominator for c in linked.cells.values())


def generation(session: Session) -> int:
    state = session.get(StoreState, GENERATION)
    return int(state.value) if state else 0


def _category(value: str) -> str:
    return value or UNKNOWN


def read_store(
    session: Session, family: Family, year: int, frameworks: Sequence[str], sources: Sequence[str]
) -> dict[tuple[str, ...], Counter[str]]:
    """``(unit, quarter, *dimension values, source) -> Counter(value -> count)`` for a family's year."""
    columns = [_STORE_COLUMNS[d] for d in family.dimensions]
    unit = ReportCell.provider_id if family.kind == "provider" else ReportCell.municipality
    query = (
        select(unit, ReportCell.period, *columns, ReportCell.indicator, ReportCell.value, func.sum(ReportCell.count))
        .where(ReportCell.period.in_([f"{year}-Q{q}" for q in range(1, 5)]),
               ReportCell.framework.in_(list(frameworks)), ReportCell.indicator.in_(list(sources)))
        .group_by(unit, ReportCell.period, *columns, ReportCell.indicator, ReportCell.value)
    )
    if family.kind == "provider":
        query = query.where(ReportCell.provider_id == family.provider)
    else:
        query = query.where(ReportCell.municipality.in_(list(family.municipalities)))
    out: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for row in session.execute(query):
        *key, source, value, count = row
        unit_value, quarter, *dims = key
        out[(unit_value, quarter, *(_category(d) for d in dims), source)][value] += int(count)
    return out


class ReportPreparing(Exception):
    """The family is being protected in the background; ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the report is being prepared; retry after {retry_after} s")
        self.retry_after = retry_after


class ReportEngine:
    """Protects families in the background and keeps their latest release."""

    def __init__(self, registry: Registry, configuration: PrivacyConfiguration, codelists: CodeLists,
                 cache_size: int = 256, sessions: sessionmaker[Session] | None = None,
                 wait_seconds: float = 20.0, retry_after: int = 60, stale_wait_seconds: float = 0.5) -> None:
        self.registry = registry
        self.configuration = configuration
        self.codelists = codelists
        disclosure = configuration.disclosure
        self.policy = SuppressionPolicy(
            minimum_cell_size=disclosure.minimum_cell_size, small_count=disclosure.small_count,
            rounding_base=disclosure.rounding_base,
        )
        self._released: OrderedDict[tuple[Any, ...], Release] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._sessions = sessions
        self._pending: dict[tuple[Any, ...], Future[Release]] = {}
        # One worker: protection is CPU-bound, and one family at a time keeps the service responsive.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-protection")
        self.wait_seconds = wait_seconds
        self.stale_wait_seconds = stale_wait_seconds
        self.retry_after = retry_after

    # ---- thresholds --------------------------------------------------------------------------
    def thresholds(self, municipalities: Sequence[str]) -> dict[str, int]:
        return {m: self.configuration.threshold_for(m) for m in municipalities}

    # ---- groups of indicators ----------------------------------------------------------------
    def groups(self, framework: str) -> list[tuple[Indicator, ...]]:
        grouped: dict[tuple[str, Any], list[Indicator]] = defaultdict(list)
        for indicator in self.registry.for_framework(framework):
            grouped[(indicator.source, indicator.base)].append(indicator)
        return [tuple(v) for _, v in sorted(grouped.items(), key=lambda kv: str(kv[0]))]

    def release(self, session: Session, family: Family, year: int, framework: str) -> Release:
        """The latest release of a family for a year and framework.

        Current: returned at once. Older than the store: a new one is prepared in the background
        and the older one is returned unless the new one is ready within ``stale_wait_seconds``.
        None yet: wait up to ``wait_seconds``, then :class:`ReportPreparing`.
        """
        current = generation(session)
        # End the read transaction: on SQLite every transaction holds the write lock, and
        # protecting (or waiting for) a family must never block ingestion.
        session.rollback()
        key = (family.key, year, framework)
        with self._lock:
            latest = self._released.get(key)
            if latest is not None:
                self._released.move_to_end(key)
                if latest.generation >= current:
                    return latest
            future = None
            if self._sessions is not None:
                future = self._pending.get(key)
                if future is None:
                    future = self._executor.submit(self._compute, key, family, year, framework)
                    self._pending[key] = future
        if future is None:
            result = self._protect(session, family, year, framework)
            return self._store(key, result)
        try:
            return future.result(timeout=self.wait_seconds if latest is None else self.stale_wait_seconds)
        except FutureTimeout:
            if latest is not None:
                return latest  # protected from an earlier snapshot; its as_of says which
            raise ReportPreparing(self.retry_after) from None

    def _compute(self, key: tuple[Any, ...], family: Family, year: int, framework: str) -> Release:
        assert self._sessions is not None
        try:
            with self._sessions() as session:
                result = self._protect(session, family, year, framework)
            return self._store(key, result)
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _store(self, key: tuple[Any, ...], result: Release) -> Release:
        with self._lock:
            latest = self._released.get(key)
            if latest is not None and latest.generation > result.generation:
                return latest
            self._released[key] = result
            self._released.move_to_end(key)
            while len(self._released) > self._cache_size:
                self._released.popitem(last=False)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _protect(self, session: Session, family: Family, year: int, framework: str) -> Release:
        started = time.perf_counter()
        snapshot = generation(session)
        as_of = datetime.now(UTC).replace(microsecond=0)
        frameworks = FRAMEWORKS[framework]
        groups = self.groups(framework)
        population_source = POPULATION_SOURCE[frameworks[0]]
        store = read_store(session, family, year, frameworks,
                           sorted({g[0].source for g in groups} | {population_source}))
        session.rollback()  # everything needed is read; do not hold a transaction while protecting
        cutoff = self.configuration.indicators.satisfaction_cutoff
        of_source: dict[str, list[Indicator]] = defaultdict(list)
        for group in groups:
            of_source[group[0].source].extend(group)
        base: dict[str, dict[tuple[str, ...], CellCounts]] = {i.id: {} for g in groups for i in g}
        population_base: dict[tuple[str, ...], CellCounts] = {}
        for (*cell, stored_source), values in sorted(store.items()):
            cell_key = tuple(cell)
            if stored_source == population_source:
                ended = sum(n for v, n in values.items() if v not in ("no_response", "pending"))
                if ended:
                    population_base[cell_key] = CellCounts(ended, 0)
            for indicator in of_source.get(stored_source, ()):
                figures = indicator.figures(values, cutoff=cutoff)
                numerator = figures.numerator
                if numerator is None:  # a mean: protect it as the share at or above the cut-off
                    numerator = sum(n for v, n in values.items() if v.startswith("mark:") and int(v[5:]) >= cutoff)
                if figures.denominator:
                    base[indicator.id][cell_key] = CellCounts(figures.denominator, numerator)
        thresholds = self.thresholds(self._municipalities(family, store))
        linked = {name: self._linked(family, cells) for name, cells in base.items()}
        # one pattern per set of indicators with the same cells and denominators, across groups
        sharing: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for name in sorted(linked):
            if linked[name].cells:
                sharing[_signature(linked[name])].append(name)
        tables: dict[str, ProtectedTables] = {}
        for names in sharing.values():
            tables.update(protect_shared_denominator({n: linked[n] for n in names}, self.policy, thresholds))
        population = None
        population_linked = self._linked(family, population_base)
        if population_linked.cells:
            twins = sharing.get(_signature(population_linked))
            population = tables[twins[0]] if twins else protect_shared_denominator(
                {"population": population_linked}, self.policy, thresholds)["population"]
        population_counts = {k: c.denominator for k, c in population_linked.cells.items()}
        seconds = time.perf_counter() - started
        released = {
            tuple(i.id for i in group): ProtectedGroup(
                group, {i.id: tables[i.id] for i in group if i.id in tables},
                self._value_counts(family, store, group[0].source), population, population_counts, seconds)
            for group in groups
        }
        for name, protected in sorted(tables.items()):
            # the release check found the chosen pattern too weak and withheld more: worth a look
            level = logging.WARNING if protected.added_by_release_check else logging.INFO
            log.log(level, "disclosure control applied", extra={
                "family": family.key, "year": year, "framework": framework, "indicator": name,
                "disclosure": protected.summary()})
        return Release(snapshot, as_of, released, seconds)

    def _municipalities(self, family: Family, store: Mapping[tuple[str, ...], Any]) -> list[str]:
        if family.kind == "provider":
            index = 2 + PROVIDER_DIMENSIONS.index("municipality")
            return sorted({key[index] for key in store})
        return list(family.municipalities)

    def _linked(self, family: Family, base: Mapping[tuple[str, ...], CellCounts]) -> LinkedTables:
        return build_linked_tables(
            base, family.dimensions, regions=dict(family.regions) or None,
            municipality_dimension="municipality" if family.kind == "provider" else None,
        )

    def _value_counts(self, family: Family, store: Mapping[tuple[str, ...], Counter[str]],
                      source: str) -> dict[CellKey, Counter[str]]:
        """True value counts per published-cell key (for means, intervals and response rates)."""
        out: dict[CellKey, Counter[str]] = defaultdict(Counter)
        region_of = {m: r for r, members in family.regions.items() for m in members}
        for (unit, quarter, *dims, stored_source), values in store.items():
            if stored_source != source:
                continue
            units = [unit] + ([region_of[unit]] if unit in region_of else [])
            year, q = quarter.split("-Q")
            periods = [quarter, f"{year}-H{1 if int(q) <= 2 else 2}", year]
            for u in units:
                for period in periods:
                    out[CellKey(u, period)].update(values)
                    for dimension, category in zip(family.dimensions, dims, strict=True):
                        out[CellKey(u, period, dimension, category)].update(values)
        return out


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
    engine: ReportEngine,
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
    cutoff = engine.configuration.indicators.satisfaction_cutoff
    release = engine.release(session, family, period.year, framework)
    report = Report(unit=unit, period=str(period), framework=framework, by=by, threshold=0, as_of=release.as_of)
    thresholds: list[int] = []
    for group in engine.groups(framework):
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
        report.threshold = engine.configuration.threshold_for(unit)
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
