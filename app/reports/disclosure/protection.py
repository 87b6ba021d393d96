"""``protect``: primary suppression, Gaussian secondary suppression, release check, shown values."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Literal

from app.reports.disclosure.check import check_pattern
from app.reports.disclosure.findings import Finding, ReleaseCheck
from app.reports.disclosure.indexed import IndexedFamily
from app.reports.disclosure.perturbation import Certificate, secure
from app.reports.disclosure.policy import SuppressionPolicy
from app.reports.disclosure.presentation import Band, make_band, round_count, share
from app.reports.disclosure.propagation import implied_width, propagate_bounds, propagation_failures
from app.reports.disclosure.reader_lp import ReaderProgramme, independent_components
from app.reports.disclosure.suppression import derivable, inner_vectors, publication_order, secondary_suppressed
from app.reports.disclosure.tables import K, LinkedTables, sort_key

Status = Literal["published", "primary", "secondary"]


@dataclass(frozen=True)
class ProtectedCell:
    """What a report may show for one cell.

    A suppressed cell (``status`` "primary" or "secondary") shows nothing: all count fields are
    ``None``. Render one and the same reason for both statuses (the release check assumes a
    reader cannot tell them apart). A published cell shows its (possibly rounded)
    ``denominator``, and either ``numerator`` and ``share`` or a ``band``.
    """

    status: Status
    threshold: int
    denominator: int | None
    numerator: int | None
    share: float | None
    band: Band | None

    @property
    def suppressed(self) -> bool:
        return self.status != "published"


@dataclass(frozen=True)
class ProtectedTables(Generic[K]):
    """The protected family: per cell what may be shown, and how the pattern came about."""

    cells: Mapping[K, ProtectedCell]
    primary: frozenset[K]
    secondary: frozenset[K]
    added_by_gauss: tuple[K, ...]
    added_by_perturbation: tuple[K, ...]
    added_by_release_check: tuple[K, ...]
    check: ReleaseCheck
    iterations: int
    seconds: float
    certificates: tuple[Certificate, ...] = ()

    @property
    def suppressed(self) -> frozenset[K]:
        return self.primary | self.secondary

    def summary(self) -> dict[str, int | float | bool]:
        """Figures for the log (no counts of any cell)."""
        return {
            "cells": len(self.cells),
            "primary": len(self.primary),
            "secondary": len(self.secondary),
            "added_by_gauss": len(self.added_by_gauss),
            "added_by_perturbation": len(self.added_by_perturbation),
            "added_by_release_check": len(self.added_by_release_check),
            "iterations": self.iterations,
            "seconds": round(self.seconds, 3),
            **{f"check_{k}": v for k, v in self.check.summary().items()},
        }


def _choose(family: IndexedFamily, finding: Finding, candidates: list[int], rank: Mapping[int, int]) -> int:
    """The least wanted candidate that helps: for a denominator, the smallest cell that alone
    gives enough room (else the largest); for a numerator, one with room both ways."""
    if finding.quantity == "denominator":
        needed = finding.required - (finding.width or 0)
        enough = [c for c in candidates if family.d[c] >= needed]
        if enough:
            return max(enough, key=lambda c: rank[c])
        return min(candidates, key=lambda c: rank[c])
    return min(candidates, key=lambda c: (not 0 < family.n[c] < family.d[c], -rank[c]))


def _escalate(
    family: IndexedFamily, finding: Finding, suppressed: set[int], rank: Mapping[int, int], bounds: dict
) -> int | None:
    """The published cell to withhold next for a failed requirement.

    First choice: a published cell in the equation that binds the failing cell most tightly
    (the narrowest interval that equation alone allows, given the bounds from propagation);
    otherwise the nearest published cells through the equations of the withheld cells around
    it. Among the candidates :func:`_choose` picks the least wanted one that helps."""
    start = family.index[finding.cell]
    q = 0 if finding.quantity == "denominator" else 1
    reader_bounds = bounds[finding.reader]
    equations = sorted(
        family.equations_of[start], key=lambda e: (implied_width(family, e, q, reader_bounds, start), e)
    )
    for e in equations:
        total, parts = family.equations[e]
        candidates = [c for c in (total, *parts) if c not in suppressed and family.d[c] > 0]
        if candidates:
            return _choose(family, finding, candidates, rank)
    seen = {start}
    frontier = [start]
    while frontier:
        layer: set[int] = set()
        for cell in frontier:
            for e in family.equations_of[cell]:
                total, parts = family.equations[e]
                layer.update((total, *parts))
        layer -= seen
        candidates = sorted(c for c in layer if c not in suppressed and family.d[c] > 0)
        if candidates:
            return _choose(family, finding, candidates, rank)
        seen |= layer
        frontier = sorted(c for c in layer if c in suppressed)
    return None


def _priced(
    family: IndexedFamily,
    finding: Finding,
    suppressed: set[int],
    rank: Mapping[int, int],
    programmes: dict,
) -> int | None:
    """The published cell to withhold next, chosen by LP pricing.

    Solve the reader's LP for the failing quantity (maximise, then minimise) and price every
    published cell of the equations involved: withholding it adds a column whose reduced cost
    is ``-a^T y`` (``y`` the duals of the equations); a non-zero reduced cost with room to move
    in the improving direction means the interval would grow. This finds the cause of a narrow
    interval even when it lies several equations away (a region cell pinning a municipality
    cell through its quarters). Among the helpful cells the least wanted is chosen; ``None``
    when none helps (the caller falls back on :func:`_escalate`).
    """
    start = family.index[finding.cell]
    if "members" not in programmes:
        unknown = suppressed | {i for i in family.band if i not in suppressed}
        programmes["members"] = {c: tuple(m) for m in independent_components(family, unknown) for c in m}
    members = programmes["members"][start]
    key = (members, finding.reader)
    if key not in programmes:
        programmes[key] = ReaderProgramme(family, list(members), suppressed, finding.reader)
    programme: ReaderProgramme = programmes[key]
    quantity = 0 if finding.quantity == "denominator" else 1
    var = (programme.d_var if quantity == 0 else programme.n_var)[start]
    outsider = finding.reader == "outsider"
    member_set = set(members)
    for sign in (-1.0, 1.0):
        programme.optimise({var: sign})
        y, column_dual = programme.row_dual, programme.col_dual
        helpful = []
        rows_of_cell: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for (e, q), row in programme.row_of.items():
            if abs(y[row]) <= 1e-9:
                continue
            total, parts = family.equations[e]
            for c in (total, *parts):
                if c not in suppressed and family.d[c] > 0:
                    rows_of_cell[c].append((q, y[row] * (1.0 if c == total else -1.0)))
        for c, entries in rows_of_cell.items():
            d, n = int(family.d[c]), int(family.n[c])
            if c in member_set:  # a published band cell: its numerator is already a variable
                v = programme.n_var[c]
                r = column_dual[v]
                lo, hi = family.band[c]
                if (r < -1e-9 and hi < d) or (r > 1e-9 and lo > 0):
                    helpful.append(c)
                continue
            reduced = {0: 0.0, 1: 0.0}
            for q, value in entries:
                reduced[q] -= value
            up = {0: True, 1: outsider or n < d}
            down = {0: d > 1, 1: n > 0}
            if any(
                (reduced[q] < -1e-9 and up[q]) or (reduced[q] > 1e-9 and down[q])
                for q in ((0, 1) if outsider else (1,))
            ):
                helpful.append(c)
        if helpful:
            return max(helpful, key=lambda c: rank[c])
    return None


def _target_order(keys: tuple[Hashable, ...]) -> list[int]:
    """Cells in the order the perturbation step takes them: per breakdown and category, all
    units and periods together (their perturbations share cells, so one often covers the next)."""
    def order(i: int) -> tuple:
        key = keys[i]
        return sort_key((*key[2:], *key[:2])) if isinstance(key, tuple) else sort_key(key)

    return sorted(range(len(keys)), key=order)


def protect(
    linked: LinkedTables,
    policy: SuppressionPolicy,
    thresholds: Mapping[str, int],
    *,
    also_suppress: Collection[Hashable] = (),
    exact_check: bool = False,
    hints: Collection[Certificate] = (),
) -> ProtectedTables:
    """Protect a family: decide per cell what may be shown.

    1. primary: every cell with ``0 < denominator < threshold`` (the strictest threshold of the
       municipalities it covers, never below ``policy.minimum_cell_size``);
    2. secondary by minimum-cost perturbations (see :mod:`.perturbation`): for every target of
       the release check, the cheapest published cells whose withholding leaves it a feasible
       interval of the required width; each leaves a certificate for the check;
    3. exact non-derivability by Gaussian elimination over the base cells (see
       :mod:`.suppression`): checked, and only if a primary cell is still a linear combination
       of published cells are more withheld;
    4. release check (see :mod:`.check`): verified certificates first, then bound
       propagation and the LPs; while a requirement fails, one more published cell is
       withheld per failing cell (chosen by LP pricing: the least wanted cell whose release
       widens the failing interval; else from the equation binding it most tightly), and the
       check runs again. Cells are only ever added;
    5. shown values for published cells (rounding, share, band; see :mod:`.presentation`).

    ``also_suppress`` withholds extra cells (e.g. to share one pattern between indicators with
    the same denominator, see :func:`protect_shared_denominator`). ``hints``: certificates of an
    earlier run over the same cells; each is verified here before it is used. Deterministic: the result
    depends only on the content of the input, never on the order of dicts or sets.
    """
    started = time.perf_counter()
    family = IndexedFamily.build(linked, policy, thresholds)
    keys = family.keys
    missing = [k for k in also_suppress if k not in family.index]
    if missing:
        raise ValueError(f"unknown cells in also_suppress: {missing[:3]!r}")
    if any(linked.cells[k].denominator == 0 for k in also_suppress):
        raise ValueError("empty cells are always published, not withheld")
    primary = frozenset(keys[i] for i in family.primary)
    vectors = inner_vectors(linked)
    rank = {i: r for r, i in enumerate(publication_order(linked, vectors))}
    suppressed = {family.index[k] for k in (*primary, *also_suppress)}
    added, certificates, _ = secure(family, suppressed, _target_order(keys), hints)
    suppressed |= added
    added_by_perturbation = tuple(sorted((keys[i] for i in added), key=sort_key))
    # exact non-derivability over the base cells (structural zeros included), which the
    # equations behind the perturbations may not capture in full: usually nothing to add
    gauss: frozenset[Hashable] = frozenset()
    published = [i for i in range(len(keys)) if i not in suppressed and family.d[i] > 0]
    at_risk = derivable(vectors, published, sorted(family.primary), family.equations)
    if at_risk:
        gauss = secondary_suppressed(linked, primary, [keys[i] for i in sorted(suppressed)], vectors,
                                     at_risk=[keys[i] for i in at_risk], equations=family.equations)
        suppressed |= {family.index[k] for k in gauss}
    added_by_check: list[Hashable] = []
    iterations = 0
    while True:
        iterations += 1
        bounds = propagate_bounds(family, suppressed)
        failures = propagation_failures(family, suppressed, bounds)
        if not failures:
            check = check_pattern(family, suppressed, exact=exact_check, certificates=certificates,
                                  propagated=failures)
            if check.ok:
                break
            failures = list(check.failures)
        additions: set[int] = set()
        programmes: dict = {}  # LPs of this round, shared by the failures in one component
        touched: set[int] = set()  # equations changed in this round
        for finding in failures:
            if touched.intersection(family.equations_of[family.index[finding.cell]]):
                continue  # a neighbour was just withheld: judge this one again next round
            pick = _priced(family, finding, suppressed, rank, programmes)
            if pick is None:
                pick = _escalate(family, finding, suppressed, rank, bounds)
            if pick is None:  # pragma: no cover - a fully withheld neighbourhood always passes
                raise RuntimeError(f"release check cannot be satisfied for {finding.cell!r}")
            additions.add(pick)
            touched.update(family.equations_of[pick])
        suppressed |= additions
        added_by_check.extend(sorted((keys[i] for i in additions), key=sort_key))

    cells = {}
    for i, key in enumerate(keys):
        threshold = int(family.threshold[i])
        if i in suppressed:
            status: Status = "primary" if key in primary else "secondary"
            cells[key] = ProtectedCell(status, threshold, None, None, None, None)
            continue
        counts = linked.cells[key]
        band = make_band(counts, policy, threshold)
        cells[key] = ProtectedCell(
            "published",
            threshold,
            round_count(counts.denominator, policy.rounding_base),
            None if band else round_count(counts.numerator, policy.rounding_base),
            None if band else share(counts, policy),
            band,
        )
    return ProtectedTables(
        cells=MappingProxyType(cells),
        primary=primary,
        secondary=frozenset(keys[i] for i in suppressed) - primary,
        added_by_gauss=tuple(sorted(gauss, key=sort_key)),
        added_by_perturbation=added_by_perturbation,
        added_by_release_check=tuple(added_by_check),
        check=check,
        iterations=iterations,
        seconds=time.perf_counter() - started,
        certificates=tuple(certificates),
    )


def protect_shared_denominator(
    families: Mapping[str, LinkedTables],
    policy: SuppressionPolicy,
    thresholds: Mapping[str, int],
    *,
    also_suppress: Mapping[str, Collection[Hashable]] | None = None,
) -> dict[str, ProtectedTables]:
    """Protect several indicators whose cells share one denominator with ONE pattern.

    Indicators 1 and 3.2 both count ended trajectories: if their patterns differed, a
    denominator withheld in one table could be read from the other. The families must have the
    same cells and denominators. ``also_suppress`` withholds cells of any of them in all (e.g.
    what an earlier release withheld). Each is protected in turn with everything the others withhold
    withheld as well, until all withhold the same cells (the union only grows, so this ends;
    a single family is protected once).
    """
    names = sorted(families)
    if not names:
        return {}
    first = families[names[0]]
    for name in names[1:]:
        other = families[name]
        if other.keys != first.keys or any(
            other.cells[k].denominator != first.cells[k].denominator for k in first.keys
        ):
            raise ValueError(f"family {name!r} does not share cells and denominators with {names[0]!r}")
    known = set(first.keys)
    union: frozenset[Hashable] = frozenset(
        key for name in names for key in (also_suppress or {}).get(name, ()) if key in known)
    results: dict[str, ProtectedTables] = {}
    while True:
        for name in names:
            if name in results and results[name].suppressed == union:
                continue  # already withholds exactly the common pattern
            hints = [c for result in results.values() for c in result.certificates]
            results[name] = protect(families[name], policy, thresholds, also_suppress=union, hints=hints)
            union = union | results[name].suppressed
        if all(results[name].suppressed == union for name in names):
            return results
