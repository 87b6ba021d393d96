"""Protecting a family: from one snapshot of the aggregate store to a :class:`Release`.

A family is protected for a whole year and framework at once, from one read of the store:
every indicator, and the population behind response rates. Indicators whose cells and
denominators are the same share one pattern (2 and 2.satisfied always; 1 and 3.2 once every
follow-up window of the year has passed), or one table could uncover the other. The disclosure
control itself is the pure package :mod:`app.reports.disclosure`; this module turns store counts
into its inputs and keeps what the reports need beside the patterns.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from app import aggregate_store
from app.privacy.configuration import PrivacyConfiguration
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
from app.reports.families import PROVIDER_DIMENSIONS, Family
from app.reports.registry import FRAMEWORKS, Indicator, Registry

#: The population of a framework: every ended trajectory (for response rates).
POPULATION_SOURCE = {"jeugdhulp": "1", "jeugdbescherming": "jbjr.end_reason", "jeugdreclassering": "jbjr.end_reason"}
log = logging.getLogger("ttp.reports")


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


def suppression_policy(configuration: PrivacyConfiguration) -> SuppressionPolicy:
    """The configuration's disclosure settings. Where counts are rounded, shares are computed
    from the rounded counts shown beside them, so that no share undoes the rounding."""
    disclosure = configuration.disclosure
    return SuppressionPolicy(minimum_cell_size=disclosure.minimum_cell_size, small_count=disclosure.small_count,
                             rounding_base=disclosure.rounding_base,
                             share_from_rounded_counts=disclosure.rounding_base > 0)


def indicator_groups(registry: Registry, framework: str) -> list[tuple[Indicator, ...]]:
    """The framework's indicators, grouped by the stored indicator and base they count."""
    grouped: dict[tuple[str, Any], list[Indicator]] = defaultdict(list)
    for indicator in registry.for_framework(framework):
        grouped[(indicator.source, indicator.base)].append(indicator)
    return [tuple(v) for _, v in sorted(grouped.items(), key=lambda kv: str(kv[0]))]


def _signature(linked: LinkedTables) -> tuple[Any, ...]:
    """Cells and denominators: tables with the same signature must share a pattern."""
    return linked.keys, tuple(c.denominator for c in linked.cells.values())


#: A family's counts for one year: ``(unit, quarter, *dimension values, stored indicator) ->
#: Counter(value -> count)``, as :func:`app.aggregate_store.read_year` gives them.
FamilyStore = dict[tuple[str, ...], Counter[str]]


def store_sources(registry: Registry, framework: str) -> list[str]:
    """The stored indicators a framework's family reads (its indicators and its population)."""
    groups = indicator_groups(registry, framework)
    return sorted({g[0].source for g in groups} | {POPULATION_SOURCE[FRAMEWORKS[framework][0]]})


def read_family_store(session: Session, family: Family, year: int, framework: str, *,
                      registry: Registry) -> FamilyStore:
    """One snapshot of everything the family's year is made of."""
    return aggregate_store.read_year(
        session, unit="provider" if family.kind == "provider" else "municipality", units=family.units,
        dimensions=family.dimensions, year=year, frameworks=FRAMEWORKS[framework],
        indicators=store_sources(registry, framework))


def protect_family(store: Mapping[tuple[str, ...], Counter[str]], family: Family, year: int, framework: str, *,
                   registry: Registry, configuration: PrivacyConfiguration, generation: int = 0,
                   as_of: datetime | None = None,
                   also_suppress: Mapping[str, Collection[Hashable]] | None = None) -> Release:
    """Protect a family's year, whole, from one snapshot of its counts. ``also_suppress``: cells
    to withhold per indicator whatever their counts (cells an earlier release withheld)."""
    started = time.perf_counter()
    snapshot = generation
    as_of = as_of or datetime.now(UTC).replace(microsecond=0)
    frameworks = FRAMEWORKS[framework]
    groups = indicator_groups(registry, framework)
    population_source = POPULATION_SOURCE[frameworks[0]]
    cutoff = configuration.indicators.satisfaction_cutoff
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
            # a mean is protected as the share at or above the cut-off
            denominator, numerator = indicator.protected_counts(values, cutoff=cutoff)
            if denominator:
                base[indicator.id][cell_key] = CellCounts(denominator, numerator)
    policy = suppression_policy(configuration)
    thresholds = {m: configuration.threshold_for(m) for m in _municipalities(family, store)}
    linked = {name: _linked(family, cells) for name, cells in base.items()}
    # one pattern per set of indicators with the same cells and denominators, across groups
    sharing: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for name in sorted(linked):
        if linked[name].cells:
            sharing[_signature(linked[name])].append(name)
    tables: dict[str, ProtectedTables] = {}
    for names in sharing.values():
        withheld = {n: (also_suppress or {}).get(n, ()) for n in names}
        tables.update(protect_shared_denominator({n: linked[n] for n in names}, policy, thresholds,
                                                 also_suppress=withheld))
    population = None
    population_linked = _linked(family, population_base)
    if population_linked.cells:
        twins = sharing.get(_signature(population_linked))
        population = tables[twins[0]] if twins else protect_shared_denominator(
            {"population": population_linked}, policy, thresholds,
            also_suppress={"population": (also_suppress or {}).get("population", ())})["population"]
    population_counts = {k: c.denominator for k, c in population_linked.cells.items()}
    seconds = time.perf_counter() - started
    released = {
        tuple(i.id for i in group): ProtectedGroup(
            group, {i.id: tables[i.id] for i in group if i.id in tables},
            _value_counts(family, store, group[0].source), population, population_counts, seconds)
        for group in groups
    }
    for name, protected in sorted(tables.items()):
        # the release check found the chosen pattern too weak and withheld more: worth a look
        level = logging.WARNING if protected.added_by_release_check else logging.INFO
        log.log(level, "disclosure control applied", extra={
            "family": family.key, "year": year, "framework": framework, "indicator": name,
            "disclosure": protected.summary()})
    return Release(snapshot, as_of, released, seconds)


def _municipalities(family: Family, store: Mapping[tuple[str, ...], Any]) -> list[str]:
    if family.kind == "provider":
        index = 2 + PROVIDER_DIMENSIONS.index("municipality")
        return sorted({key[index] for key in store})
    return list(family.municipalities)


def _linked(family: Family, base: Mapping[tuple[str, ...], CellCounts]) -> LinkedTables:
    return build_linked_tables(
        base, family.dimensions, regions=dict(family.regions) or None,
        municipality_dimension="municipality" if family.kind == "provider" else None,
    )


def _value_counts(family: Family, store: Mapping[tuple[str, ...], Counter[str]],
                  source: str) -> dict[CellKey, Counter[str]]:
    """True value counts per published-cell key (for means, intervals and response rates).

    Summed per unit and quarter first, then rolled up to half-years, the year and the region
    (six additions per store entry instead of one per unit, period and breakdown)."""
    # a Counter copies into an empty one at C speed, and adds to a filled one in Python: so each
    # cell's first contribution is a copy
    quarterly: dict[tuple[str, str, str, str], Counter[str]] = {}
    for (unit, quarter, *dims, stored_source), values in store.items():
        if stored_source != source:
            continue
        for dimension, category in ((TOTAL, TOTAL), *zip(family.dimensions, dims, strict=True)):
            line = (unit, quarter, dimension, category)
            counts = quarterly.get(line)
            if counts is None:
                quarterly[line] = Counter(values)
            else:
                counts.update(values)
    out: dict[CellKey, Counter[str]] = defaultdict(Counter)
    region_of = {m: r for r, members in family.regions.items() for m in members}
    for (unit, quarter, dimension, category), values in quarterly.items():
        units = [unit, region_of[unit]] if unit in region_of else [unit]
        year, q = quarter.split("-Q")
        periods = (quarter, f"{year}-H{1 if int(q) <= 2 else 2}", year)
        for u in units:
            for period in periods:
                key = CellKey(u, period, dimension, category)
                counts = out.get(key)
                if counts is None:
                    out[key] = Counter(values)
                else:
                    counts.update(values)
    return out
