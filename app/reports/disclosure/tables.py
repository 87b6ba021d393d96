"""Linked tables: every cell one party can obtain, and the sums that tie them together.

A *family* is everything published for one indicator and one year from one linked set of
data: totals and one-dimensional breakdowns, per municipality and per region, per quarter,
half-year and year. Disclosure control is judged over the whole family, because a reader may
pull every report their token allows and subtract them from each other.

Two representations of the links live side by side in :class:`LinkedTables`:

* ``equations``: explicit ``total = sum(parts)`` relations (used by the release check's LP and
  by the generic fall-back of the Gaussian elimination);
* ``composition`` (optional, filled in by :func:`build_linked_tables`): for every cell the set
  of non-empty *base cells* (municipality, quarter, all breakdown values) it adds up. This is the
  exact linear structure, including structural zeros (a provider that only offers hulpvorm 02
  makes "provider P" and "hulpvorm 02" the same sum). Base cells with a zero count are left
  out, which is conservative: it treats their emptiness as known to the reader.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeVar

#: Dimension and category of a total cell.
TOTAL = "*"

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")

#: The cell key type of one :class:`LinkedTables` (a :class:`CellKey` from the builder) and its protection.
K = TypeVar("K", bound=Hashable)


class CellKey(NamedTuple):
    """One publishable cell: a unit (municipality code, region id or provider), a period
    (``2025-Q1``, ``2025-H1``, ``2025``), a breakdown dimension and a category in it. The
    total of a unit and period has dimension and category :data:`TOTAL`."""

    unit: str
    period: str
    dimension: str = TOTAL
    category: str = TOTAL


class CellCounts(NamedTuple):
    """True counts of a cell: ``denominator`` (e.g. ended trajectories) and ``numerator``
    (e.g. dropped out), ``0 <= numerator <= denominator``."""

    denominator: int
    numerator: int


class Equation(NamedTuple):
    """``total = sum(parts)``, for denominators and numerators alike."""

    total: Hashable
    parts: tuple[Hashable, ...]


def sort_key(value: Any) -> tuple:
    """A total order over keys made of None, ints, strings and tuples of those.

    Everything in this package iterates in this order, never in dict or set order, so that
    identical input gives identical output however it was assembled.
    """
    # strings and tuples (of strings) first: they are nearly every key, and no value is both
    # one of them and None, a bool or an int, so the order of the tests changes no result
    if isinstance(value, str):
        return (3, value)
    if isinstance(value, tuple):
        return (4, tuple([(3, v) if type(v) is str else sort_key(v) for v in value]))
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int):
        return (2, value)
    return (5, type(value).__name__, repr(value))


def _counts(value: Any, where: Any) -> CellCounts:
    if isinstance(value, CellCounts):
        counts = value
    else:
        try:
            denominator, numerator = value
        except (TypeError, ValueError):
            raise ValueError(f"counts of {where!r} must be (denominator, numerator), got {value!r}") from None
        counts = CellCounts(denominator, numerator)
    for number in counts:
        if not isinstance(number, int) or isinstance(number, bool):
            raise ValueError(f"counts of {where!r} must be integers, got {value!r}")
    if counts.denominator < 0 or counts.numerator < 0 or counts.numerator > counts.denominator:
        raise ValueError(f"counts of {where!r} must satisfy 0 <= numerator <= denominator, got {value!r}")
    return counts


@dataclass(frozen=True, eq=False)
class LinkedTables(Generic[K]):
    """All cells of one family and the linear relations between them.

    cells
        cell key -> :class:`CellCounts` (or a ``(denominator, numerator)`` pair). Keys are any
        hashable built from str/int/None/tuples; :class:`CellKey` is what the builder makes.
    equations
        :class:`Equation` ``(total, parts)`` (or plain pairs). Checked on construction: both
        counts must add up.
    municipalities
        cell key -> the municipalities whose thresholds apply to it. Default: ``{key[0]}``
        (the unit), which fits a family of municipality cells.
    composition
        optional cell key -> frozenset of base-cell ids it adds up (only non-empty base cells;
        :func:`build_linked_tables` numbers the base cells by their place in the canonical order,
        so sorting ids sorts base cells). Without it the Gaussian elimination derives the linear
        structure from the equations.
    """

    cells: Mapping[K, CellCounts]
    equations: tuple[Equation, ...]
    municipalities: Mapping[K, frozenset[str]] | None = None
    composition: Mapping[K, frozenset[Hashable]] | None = None

    def __post_init__(self) -> None:
        keys = sorted(self.cells, key=sort_key)
        # Equations name their cells as plain hashables, so the normalised maps are keyed by those.
        cells: dict[Hashable, CellCounts] = {key: _counts(self.cells[key], key) for key in keys}
        object.__setattr__(self, "cells", MappingProxyType(cells))

        # the canonical order as ranks: sorting by them orders parts and equations exactly as
        # sort_key would, without building a nested sort key for every equation
        rank: dict[Hashable, int] = {key: position for position, key in enumerate(keys)}
        equations = []
        for raw in self.equations:
            try:
                total, parts = raw
            except (TypeError, ValueError):
                raise ValueError(f"an equation must be (total, parts), got {raw!r}") from None
            parts = tuple(parts)
            if not parts:
                raise ValueError(f"equation for {total!r} has no parts")
            if len(set(parts)) != len(parts) or total in parts:
                raise ValueError(f"equation for {total!r} repeats a cell")
            for key in (total, *parts):
                if key not in cells:
                    raise ValueError(f"equation refers to unknown cell {key!r}")
            parts = tuple(sorted(parts, key=rank.__getitem__))
            for field in (0, 1):
                if cells[total][field] != sum(cells[p][field] for p in parts):
                    name = CellCounts._fields[field]
                    raise ValueError(f"{name}s do not add up for {total!r}")
            equations.append(Equation(total, parts))
        equations.sort(key=lambda e: (rank[e.total], [rank[p] for p in e.parts]))
        object.__setattr__(self, "equations", tuple(equations))

        municipalities: dict[Hashable, frozenset[str]] = {}
        if self.municipalities is None:
            for key in keys:
                if not isinstance(key, tuple) or not key:
                    raise ValueError("cell keys are not tuples: pass municipalities explicitly")
                municipalities[key] = frozenset({str(key[0])})
        else:
            for key in keys:
                if key not in self.municipalities:
                    raise ValueError(f"no municipalities given for cell {key!r}")
                municipalities[key] = frozenset(self.municipalities[key])
        object.__setattr__(self, "municipalities", MappingProxyType(municipalities))

        if self.composition is not None:
            composition: dict[Hashable, frozenset[Hashable]] = {}
            for key in keys:
                if key not in self.composition:
                    raise ValueError(f"no composition given for cell {key!r}")
                members = frozenset(self.composition[key])
                if (cells[key].denominator == 0) != (not members):
                    raise ValueError(f"composition of {key!r} must be empty exactly when its denominator is 0")
                composition[key] = members
            for total, parts in equations:
                union = frozenset().union(*(composition[p] for p in parts))
                if union != composition[total] or sum(len(composition[p]) for p in parts) != len(union):
                    raise ValueError(f"composition does not add up for {total!r}")
            object.__setattr__(self, "composition", MappingProxyType(composition))

    @property
    def keys(self) -> tuple[K, ...]:
        """Cell keys in the canonical order."""
        return tuple(self.cells)


def _quarter(label: str) -> tuple[int, int]:
    match = _QUARTER.match(label)
    if not match:
        raise ValueError(f"base period must be a quarter like 2025-Q1, got {label!r}")
    return int(match.group(1)), int(match.group(2))


def build_linked_tables(
    base: Mapping[tuple, Any],
    dimensions: Sequence[str],
    regions: Mapping[str, Iterable[str]] | None = None,
    municipality_dimension: str | None = None,
) -> LinkedTables[CellKey]:
    """Derive every publishable cell of a family from base counts.

    base
        ``(unit, quarter, value_1, ..., value_k) -> (denominator, numerator)``: one entry per
        combination of unit (normally a municipality code), quarter (``"2025-Q1"``) and one value
        for each of the ``k`` breakdown dimensions. Missing combinations count as zero.
    dimensions
        the names of the breakdown dimensions, in the order of the values in the base keys
        (e.g. ``["provider", "hulpvorm", "product_category", "age_band", "sex"]``).
    regions
        optional ``region id -> member units``: each region becomes a unit whose cells add up
        its members' cells (only regions whose municipalities agreed to regional reports).
    municipality_dimension
        ``None`` (default): the unit is the municipality, and a region's thresholds are its
        members'. For a provider's mirror family (unit = the provider), name the dimension that
        carries the municipality (e.g. ``"municipality"``).

    Derived cells, for every unit (municipalities and regions) and every quarter, half-year and
    year of each year present: the total ``CellKey(unit, period)`` and, per dimension, one cell
    per category seen for that unit in that year (zero in periods without data).
    Equations: categories of each dimension add up to the total; Q1+Q2 = H1, Q3+Q4 = H2,
    H1+H2 = year; members add up to their region.
    """
    dimensions = tuple(dimensions)
    if len(set(dimensions)) != len(dimensions) or TOTAL in dimensions:
        raise ValueError("dimension names must be distinct and not '*'")
    if municipality_dimension is not None and municipality_dimension not in dimensions:
        raise ValueError(f"municipality_dimension {municipality_dimension!r} is not a dimension")
    regions = {r: tuple(sorted(set(m), key=sort_key)) for r, m in (regions or {}).items()}

    rows: list[tuple[tuple, int, CellCounts]] = []  # (raw key, year, counts)
    for raw_key in sorted(base, key=sort_key):
        if not isinstance(raw_key, tuple) or len(raw_key) != 2 + len(dimensions):
            raise ValueError(f"base key {raw_key!r} must be (unit, quarter, {len(dimensions)} values)")
        unit, quarter, *values = raw_key
        if not isinstance(unit, str) or any(not isinstance(v, str) for v in values):
            raise ValueError(f"unit and dimension values must be strings in {raw_key!r}")
        if unit in regions:
            raise ValueError(f"unit {unit!r} is also a region id")
        if any(v == TOTAL for v in values):
            raise ValueError(f"'*' is not a category ({raw_key!r})")
        year, _ = _quarter(quarter)
        rows.append((raw_key, year, _counts(base[raw_key], raw_key)))

    # Sums per unit, quarter and line (the total or one category of one dimension) first, each
    # base row once; regions then add up their members' quarters, and half-years and the year
    # add up quarters. A base cell is named in the compositions by its position in the
    # canonical order (an int hashes at once, a key tuple is hashed again on every insert).
    denominators: dict[tuple, int] = defaultdict(int)
    numerators: dict[tuple, int] = defaultdict(int)
    composition: dict[tuple, set[int]] = defaultdict(set)
    lines_of: dict[str, set[tuple]] = defaultdict(set)  # unit -> its (quarter, dimension, category)
    categories: dict[tuple[str, int, str], set[str]] = defaultdict(set)  # (unit, year, dim) -> categories
    years_of: dict[str, set[int]] = defaultdict(set)
    base_municipalities: dict[str, set[str]] = defaultdict(set)  # unit -> municipalities in its rows
    where = dimensions.index(municipality_dimension) if municipality_dimension is not None else None

    for position, (raw_key, year, counts) in enumerate(rows):
        unit, quarter, *values = raw_key
        years_of[unit].add(year)
        base_municipalities[unit].add(unit if where is None else values[where])
        d, n = counts
        own = lines_of[unit]
        for dimension, category in ((TOTAL, TOTAL), *zip(dimensions, values, strict=True)):
            line = (quarter, dimension, category)
            key = (unit, *line)
            own.add(line)
            denominators[key] += d
            numerators[key] += n
            if d > 0:
                composition[key].add(position)
            if dimension != TOTAL:
                categories[(unit, year, dimension)].add(category)
    for region in sorted(regions, key=sort_key):
        for member in regions[region]:
            if member not in years_of:
                continue
            years_of[region] |= years_of[member]
            base_municipalities[region] |= base_municipalities[member]
            for (unit, year, dimension), seen in list(categories.items()):
                if unit == member:
                    categories[(region, year, dimension)] |= seen
            for line in lines_of[member]:
                key, total = (member, *line), (region, *line)
                lines_of[region].add(line)
                denominators[total] += denominators[key]
                numerators[total] += numerators[key]
                if key in composition:
                    composition[total] |= composition[key]

    cells: dict[CellKey, CellCounts] = {}
    base_cells: dict[CellKey, frozenset[int]] = {}
    equations: list[Equation] = []
    nothing: frozenset[int] = frozenset()
    all_units = sorted(set(years_of), key=sort_key)
    for unit in all_units:
        for year in sorted(years_of[unit]):
            quarters = [f"{year}-Q{q}" for q in range(1, 5)]
            halves = [f"{year}-H1", f"{year}-H2"]
            periods = [*quarters, *halves, f"{year}"]
            lines = [(TOTAL, TOTAL)] + [
                (dimension, category)
                for dimension in dimensions
                for category in sorted(categories[(unit, year, dimension)])
            ]
            for dimension, category in lines:
                sums = [(denominators.get(k, 0), numerators.get(k, 0), composition.get(k))
                        for k in ((unit, quarter, dimension, category) for quarter in quarters)]
                first = (sums[0][0] + sums[1][0], sums[0][1] + sums[1][1])
                second = (sums[2][0] + sums[3][0], sums[2][1] + sums[3][1])
                quarter_cells = [frozenset(c) if c else nothing for _, _, c in sums]
                half_cells = [quarter_cells[0] | quarter_cells[1], quarter_cells[2] | quarter_cells[3]]
                sums_of = [*((d, n) for d, n, _ in sums), first, second, (first[0] + second[0], first[1] + second[1])]
                members = [*quarter_cells, *half_cells, half_cells[0] | half_cells[1]]
                for period, (d, n), made_of in zip(periods, sums_of, members, strict=True):
                    key = CellKey(unit, period, dimension, category)
                    cells[key] = CellCounts(d, n)
                    base_cells[key] = made_of
            for period in periods:
                for dimension in dimensions:
                    parts = tuple(
                        CellKey(unit, period, dimension, c) for c in sorted(categories[(unit, year, dimension)])
                    )
                    if parts:
                        equations.append(Equation(CellKey(unit, period), parts))
            for dimension, category in lines:
                q1, q2, q3, q4, h1, h2, whole = (CellKey(unit, p, dimension, category) for p in periods)
                equations.append(Equation(h1, (q1, q2)))
                equations.append(Equation(h2, (q3, q4)))
                equations.append(Equation(whole, (h1, h2)))

    for region in sorted(regions, key=sort_key):
        for key in [k for k in cells if k.unit == region]:
            parts = tuple(
                CellKey(member, key.period, key.dimension, key.category)
                for member in regions[region]
                if CellKey(member, key.period, key.dimension, key.category) in cells
            )
            if parts:
                equations.append(Equation(key, parts))

    municipalities: dict[CellKey, frozenset[str]] = {}
    for key in cells:
        if municipality_dimension is not None and key.dimension == municipality_dimension:
            municipalities[key] = frozenset({key.category})
        elif municipality_dimension is not None:
            municipalities[key] = frozenset(base_municipalities[key.unit])
        else:
            municipalities[key] = frozenset(regions.get(key.unit, (key.unit,)))

    return LinkedTables(
        cells=cells,
        equations=tuple(equations),
        municipalities=municipalities,
        composition=base_cells,
    )
