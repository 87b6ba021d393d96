"""Release check: how well can a reader pin down what is withheld, given everything published?

For a suppression pattern over a whole family this solves linear programmes (HiGHS through
``scipy.optimize.linprog``) for the reader's problem, in two reader models:

``outsider``
    knows every published count exactly (even where it is shown rounded: conservative), the
    band of every banded numerator, the additivity equations, that counts are non-negative and
    ``numerator <= denominator``, and that a suppressed cell is not empty (empty cells are always
    published). Requirement: the denominator of every primary cell keeps a feasible interval of
    width >= the protection interval (default: the cell's threshold).
``knows_denominators``
    additionally knows every denominator (a municipality does, from its own administration).
    Requirements: the numerator of every primary cell keeps a width >= ``min(numerator_protection,
    d)``, and the numerator of every other cell whose numerator or complement is small (a band
    cell, published or not) a width >= ``min(numerator_protection, small_count - 1)``: with the
    default 1, no such numerator can be pinned to one value by subtraction, so in particular
    nobody can establish that all or none of a group had the outcome.

Widths are measured on the LP relaxation with the optimum rounded inwards to integers (as in
tau-Argus's audit). Equalities between cells that add up the same base cells (known from the
composition) are added to the equations, so structural coincidences are not missed.

Speed (the LP per cell is too slow for a realistic family, so it is the last resort):

1. bound propagation (:func:`propagate_bounds`): interval arithmetic over the equations gives
   outer bounds of the integer solutions; a target whose outer bound is already too narrow
   fails without any LP; it counts as a failure of the check too (``protect`` escalates on
   these first and runs the LPs once propagation finds nothing);
2. the unknowns split into independent components (linked by equations through other
   unknowns); a component's results depend only on its members and are cached;
3. witness rounds: one LP pushes all open targets of a component up and one pushes them down
   (later rounds with mixed signs); every feasible point, with the true values, certifies a
   lower bound of each target's width, so most targets pass without their own LP;
4. local certificates: an LP over the target's neighbourhood with everything further away
   fixed at its true value (a subset of the feasible set, so a wide interval proves the case);
5. only then the target's own LPs over the component (maximise; minimise only if needed),
   warm-started from the previous optimum (HiGHS's primal simplex through SciPy's bundled
   ``highspy`` core; ``scipy.optimize.linprog`` if that is unavailable).

Pass/fail of every target equals that of its exact LP, whatever path decided it (the fast paths
only ever certify passes); ``exact=True`` solves both LPs for every target anyway, so that every
reported interval is the exact optimum.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_array, vstack

try:  # HiGHS as bundled with SciPy; used directly for warm-started re-solves
    from scipy.optimize._highspy import _core as _highs_core
except ImportError:  # pragma: no cover - other SciPy builds: fall back to linprog
    _highs_core = None

from app.reports.disclosure.perturbation import Certificate, certified_widths
from app.reports.disclosure.policy import SuppressionPolicy
from app.reports.disclosure.presentation import band_bounds
from app.reports.disclosure.suppression import cell_thresholds, primary_suppressed
from app.reports.disclosure.tables import LinkedTables, sort_key

Reader = Literal["outsider", "knows_denominators"]
Quantity = Literal["denominator", "numerator"]

_EPS = 1e-6
_LOCAL_RADII = (1, 2)  # neighbourhood sizes tried for local certificates


@dataclass(frozen=True)
class Finding:
    """The feasible integer interval of one withheld quantity and what was required of it.

    ``upper is None`` means unbounded. ``exact`` is False when the interval is only a witnessed
    part of the feasible interval (enough to show the requirement holds).
    """

    cell: Hashable
    reason: Literal["primary", "band"]
    quantity: Quantity
    reader: Reader
    lower: int
    upper: int | None
    required: int
    exact: bool

    @property
    def width(self) -> int | None:
        return None if self.upper is None else self.upper - self.lower

    @property
    def passed(self) -> bool:
        return self.upper is None or self.upper - self.lower >= self.required


@dataclass(frozen=True)
class ReleaseCheck:
    """Outcome of a release check. ``summary()`` is safe to log (no counts of cells)."""

    ok: bool
    findings: tuple[Finding, ...]
    failures: tuple[Finding, ...]
    published_primary: tuple[Hashable, ...]
    components: int
    lp_solved: int
    seconds: float

    def summary(self) -> dict[str, int | float | bool]:
        return {
            "ok": self.ok,
            "checked": len(self.findings),
            "failures": len(self.failures),
            "published_primary": len(self.published_primary),
            "components": self.components,
            "lp_solved": self.lp_solved,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class _Family:
    """Static data of a family, computed once and reused across checks."""

    linked: LinkedTables
    policy: SuppressionPolicy
    keys: tuple[Hashable, ...]
    index: dict[Hashable, int]
    d: np.ndarray
    n: np.ndarray
    threshold: np.ndarray
    primary: frozenset[int]
    equations: list[tuple[int, tuple[int, ...]]]
    equations_of: list[list[int]]
    band: dict[int, tuple[int, int]]
    band_watch: frozenset[int]
    cap: float
    cache: dict[tuple, tuple[list[Finding], int]] = field(default_factory=dict)

    @classmethod
    def build(cls, linked: LinkedTables, policy: SuppressionPolicy, thresholds: Mapping[str, int]) -> _Family:
        keys = linked.keys
        index = {key: i for i, key in enumerate(keys)}
        of_cell = cell_thresholds(linked, policy, thresholds)
        d = np.array([linked.cells[k].denominator for k in keys], dtype=np.int64)
        n = np.array([linked.cells[k].numerator for k in keys], dtype=np.int64)
        threshold = np.array([of_cell[k] for k in keys], dtype=np.int64)
        primary = frozenset(index[k] for k in primary_suppressed(linked, of_cell))
        equations = [(index[e.total], tuple(index[p] for p in e.parts)) for e in linked.equations]
        if linked.composition is not None:  # cells adding up the same base cells are equal
            same: dict[frozenset, list[int]] = defaultdict(list)
            for key in keys:
                if linked.composition[key]:
                    same[linked.composition[key]].append(index[key])
            known = {(t, p) for t, p in equations}
            for group in sorted(same.values()):
                for other in group[1:]:
                    if (group[0], (other,)) not in known and (other, (group[0],)) not in known:
                        equations.append((group[0], (other,)))
        equations_of: list[list[int]] = [[] for _ in keys]
        for e, (total, parts) in enumerate(equations):
            for cell in (total, *parts):
                equations_of[cell].append(e)
        band = {}
        watch = set()
        for i, key in enumerate(keys):
            bounds = band_bounds(linked.cells[key], policy)
            if bounds is not None:
                band[i] = bounds
                if i not in primary and policy.small_count >= 2 and policy.protect_bands:
                    watch.add(i)
        cap = 4.0 * float(d.sum()) + 4.0 * float(threshold.max(initial=0)) + 100.0
        return cls(linked, policy, keys, index, d, n, threshold, primary, equations, equations_of, band,
                   frozenset(watch), cap)

    def required_denominator(self, i: int) -> int:
        return self.policy.denominator_protection(int(self.threshold[i]))

    def required_numerator(self, i: int) -> int:
        if i in self.primary:
            return min(self.policy.numerator_protection, int(self.d[i]))
        return min(self.policy.numerator_protection, self.policy.small_count - 1)


def _components(family: _Family, unknown: set[int]) -> list[list[int]]:
    parent = {i: i for i in unknown}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for total, parts in family.equations:
        members = [c for c in (total, *parts) if c in unknown]
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted(unknown):
        groups[find(i)].append(i)
    return sorted(groups.values())


class _Programme:
    """The reader's LP for one component and one reader model."""

    def __init__(self, family: _Family, members: list[int], suppressed: set[int], reader: Reader) -> None:
        self.family = family
        self.reader = reader
        self.d_var: dict[int, int] = {}
        self.n_var: dict[int, int] = {}
        lower: list[float] = []
        upper: list[float] = []
        for i in members:
            if reader == "outsider" and i in suppressed:
                self.d_var[i] = len(lower)
                lower.append(1.0)
                upper.append(family.cap)
        for i in members:
            self.n_var[i] = len(lower)
            if i in suppressed:
                lower.append(0.0)
                upper.append(family.cap if reader == "outsider" else float(family.d[i]))
            else:
                lo, hi = family.band[i]
                lower.append(float(lo))
                upper.append(float(hi))
        self.size = len(lower)
        self.bounds = list(zip(lower, upper, strict=True))
        rows, cols, vals, rhs = [], [], [], []
        self.row_of: dict[tuple[int, int], int] = {}  # (equation, 0 = d / 1 = n) -> row
        touching = sorted({e for i in members for e in family.equations_of[i]})
        for e in touching:
            total, parts = family.equations[e]
            for q, (var, known) in enumerate(((self.d_var, family.d), (self.n_var, family.n))):
                terms = [(c, 1.0 if c == total else -1.0) for c in (total, *parts)]
                if not any(c in var for c, _ in terms):
                    continue
                row = len(rhs)
                self.row_of[(e, q)] = row
                constant = 0.0
                for c, coefficient in terms:
                    if c in var:
                        rows.append(row)
                        cols.append(var[c])
                        vals.append(coefficient)
                    else:
                        constant += coefficient * float(known[c])
                rhs.append(-constant)
        self.a_eq = csr_array((vals, (rows, cols)), shape=(len(rhs), self.size)) if rhs else None
        self.b_eq = np.array(rhs) if rhs else None
        self.a_ub = None
        self.b_ub = None
        if self.d_var:
            ub_rows, ub_cols, ub_vals = [], [], []
            for row, (i, dv) in enumerate(sorted(self.d_var.items())):
                ub_rows += [row, row]
                ub_cols += [self.n_var[i], dv]
                ub_vals += [1.0, -1.0]
            self.a_ub = csr_array((ub_vals, (ub_rows, ub_cols)), shape=(len(self.d_var), self.size))
            self.b_ub = np.zeros(len(self.d_var))
        self.solved = 0

        self._highs = None
        self._cost: dict[int, float] = {}
        self.row_dual = np.zeros(0)  # duals of the last solve (reduced cost = c - A^T y)
        self.col_dual = np.zeros(0)

    def _open_highs(self) -> None:
        """A persistent HiGHS instance, so that re-solving with another objective starts from
        the previous optimal basis (a few simplex iterations instead of a full solve)."""
        parts = [m for m in (self.a_eq, self.a_ub) if m is not None]
        matrix = (vstack(parts) if len(parts) > 1 else parts[0]).tocsc() if parts else None
        b_eq = [] if self.b_eq is None else list(self.b_eq)
        b_ub = [] if self.b_ub is None else list(self.b_ub)
        row_lower = [*b_eq, *([-np.inf] * len(b_ub))]
        row_upper = [*b_eq, *b_ub]
        lp = _highs_core.HighsLp()
        lp.num_col_ = self.size
        lp.num_row_ = len(row_lower)
        lp.col_cost_ = np.zeros(self.size)
        lp.col_lower_ = np.array([b[0] for b in self.bounds], dtype=float)
        lp.col_upper_ = np.array([b[1] for b in self.bounds], dtype=float)
        lp.row_lower_ = np.array(row_lower, dtype=float)
        lp.row_upper_ = np.array(row_upper, dtype=float)
        lp.a_matrix_.format_ = _highs_core.MatrixFormat.kColwise
        lp.a_matrix_.num_col_ = self.size
        lp.a_matrix_.num_row_ = len(row_lower)
        if matrix is not None:
            lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
            lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
            lp.a_matrix_.value_ = matrix.data.astype(float)
        else:
            lp.a_matrix_.start_ = np.zeros(self.size + 1, dtype=np.int32)
        highs = _highs_core._Highs()
        highs.setOptionValue("output_flag", False)
        # primal simplex: a new objective leaves the last optimal basis primal feasible, so each
        # re-solve is a short walk from the previous optimum
        highs.setOptionValue("simplex_strategy", 4)
        highs.passModel(lp)
        self._highs = highs

    def optimise(self, objective: dict[int, float]) -> np.ndarray:
        """Minimise ``sum(weight * variable)``; returns an optimal point."""
        global _highs_core
        self.solved += 1
        if _highs_core is not None and self._highs is None:
            try:
                self._open_highs()
            except (AttributeError, TypeError):  # pragma: no cover - a SciPy with another HiGHS API
                _highs_core = None
        if _highs_core is not None and self._highs is not None:
            changes = {var: 0.0 for var in self._cost}
            changes.update(objective)
            indices = np.array(sorted(changes), dtype=np.int32)
            self._highs.changeColsCost(len(indices), indices, np.array([changes[i] for i in indices]))
            self._cost = {var: w for var, w in objective.items() if w}
            self._highs.run()
            status = self._highs.getModelStatus()
            if status != _highs_core.HighsModelStatus.kOptimal:
                raise RuntimeError(f"release check LP failed: {self._highs.modelStatusToString(status)}")
            solution = self._highs.getSolution()
            self.row_dual = np.asarray(solution.row_dual)
            self.col_dual = np.asarray(solution.col_dual)
            return np.asarray(solution.col_value)
        c = np.zeros(self.size)
        for var, weight in objective.items():
            c[var] = weight
        result = linprog(c, A_ub=self.a_ub, b_ub=self.b_ub, A_eq=self.a_eq, b_eq=self.b_eq,
                         bounds=self.bounds, method="highs")
        if result.status != 0:
            raise RuntimeError(f"release check LP failed: {result.message}")
        n_eq = 0 if self.b_eq is None else len(self.b_eq)
        self.row_dual = np.concatenate([
            np.asarray(result.eqlin.marginals) if n_eq else np.zeros(0),
            np.asarray(result.ineqlin.marginals) if self.b_ub is not None else np.zeros(0),
        ])
        self.col_dual = np.asarray(result.lower.marginals) + np.asarray(result.upper.marginals)
        return result.x


def _neighbourhood(family: _Family, start: int, unknown: set[int], radius: int) -> list[int]:
    """Unknown cells reachable from ``start`` through at most ``radius`` equations."""
    seen = {start}
    frontier = [start]
    for _ in range(radius):
        layer = set()
        for cell in frontier:
            for e in family.equations_of[cell]:
                total, parts = family.equations[e]
                layer.update(c for c in (total, *parts) if c in unknown)
        frontier = sorted(layer - seen)
        seen |= layer
    return sorted(seen)


def _floor(x: float) -> int:
    return math.floor(x + _EPS)


def _ceil(x: float) -> int:
    return math.ceil(x - _EPS)


def _check_component(
    family: _Family, members: list[int], suppressed: set[int], exact: bool,
    shown: Mapping[tuple[int, int], tuple[float, float]] | None = None,
) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    solved = 0
    primary_targets = [i for i in members if i in family.primary]
    band_targets = [i for i in members if i in family.band_watch]
    plans: list[tuple[Reader, Quantity, list[int]]] = [
        ("outsider", "denominator", primary_targets),
        ("knows_denominators", "numerator", sorted(primary_targets + band_targets)),
    ]
    for reader, quantity, targets in plans:
        if not targets:
            continue
        programme = _Programme(family, members, suppressed, reader)
        var = programme.d_var if quantity == "denominator" else programme.n_var
        truth = family.d if quantity == "denominator" else family.n
        required = {
            i: family.required_denominator(i) if quantity == "denominator" else family.required_numerator(i)
            for i in targets
        }
        low = {i: int(truth[i]) for i in targets}
        high = dict(low)
        q = 0 if quantity == "denominator" else 1
        for i in targets:  # verified certificates (see .perturbation) already show a part
            if (q, i) in (shown or {}):
                lo, hi = shown[(q, i)]  # type: ignore[index]
                low[i], high[i] = min(low[i], _ceil(lo)), max(high[i], _floor(hi))
        open_targets = [] if exact else [i for i in targets if high[i] - low[i] < required[i]]
        rounds = 0
        while open_targets and rounds < 50:
            # witnesses: push the open targets up and down together (in the first round all the
            # same way, later with alternating signs so that cells sharing a sum move apart);
            # every feasible point widens the known part of each interval
            rounds += 1
            for sign in (-1.0, 1.0):
                weights = {
                    var[i]: sign * (1.0 if rounds == 1 or (i * 2654435761 + rounds) % 7 < 4 else -1.0)
                    for i in open_targets
                }
                x = programme.optimise(weights)
                for i in targets:
                    low[i] = min(low[i], _ceil(x[var[i]]))
                    high[i] = max(high[i], _floor(x[var[i]]))
            still = [i for i in open_targets if high[i] - low[i] < required[i]]
            progress = len(open_targets) - len(still)
            open_targets = still
            # a round costs two LPs over the whole component; stop when it certifies fewer
            # targets than a round's worth of small local LPs would (a size-based proxy)
            if progress < max(2, programme.size // 200):
                break
        unknown = set(members)
        for i in open_targets:
            # local certificates: unknowns further than a few equations from the target are
            # fixed at their true values; that only shrinks the feasible set, so a wide enough
            # local interval proves the requirement
            for radius in _LOCAL_RADII:
                if high[i] - low[i] >= required[i]:
                    break
                small = _Programme(family, _neighbourhood(family, i, unknown, radius), suppressed, reader)
                v = (small.d_var if quantity == "denominator" else small.n_var)[i]
                high[i] = max(high[i], _floor(small.optimise({v: -1.0})[v]))
                if high[i] - low[i] < required[i]:
                    low[i] = min(low[i], _ceil(small.optimise({v: 1.0})[v]))
                solved += small.solved
        for i in targets:
            done_high = done_low = False
            if exact or high[i] - low[i] < required[i]:
                high[i] = _floor(programme.optimise({var[i]: -1.0})[var[i]])
                done_high = True
            if exact or high[i] - low[i] < required[i]:
                low[i] = _ceil(programme.optimise({var[i]: 1.0})[var[i]])
                done_low = True
            unbounded = high[i] >= family.cap - 1
            findings.append(
                Finding(
                    cell=family.keys[i],
                    reason="primary" if i in family.primary else "band",
                    quantity=quantity,
                    reader=reader,
                    lower=low[i],
                    upper=None if unbounded else high[i],
                    required=required[i],
                    exact=(done_high or unbounded) and done_low,
                )
            )
        solved += programme.solved
    return findings, solved


Bounds = dict[tuple[int, int], list[float]]  # (0 = denominator / 1 = numerator, cell) -> [lo, hi]


def propagate_bounds(family: _Family, suppressed: Collection[int]) -> dict[Reader, Bounds]:
    """Outer bounds of every unknown quantity per reader model, by bound propagation.

    Interval arithmetic over each equation, repeated until nothing tightens (rounded inwards to
    integers, as counts are integers), contains every feasible integer solution: a quantity
    whose propagated interval is already too narrow is too narrow for the reader.
    """
    suppressed = set(suppressed)
    unknown_n = suppressed | {i for i in family.band if i not in suppressed}
    result: dict[Reader, Bounds] = {}
    readers: tuple[Reader, Reader] = ("outsider", "knows_denominators")
    for reader in readers:
        bounds: Bounds = {}
        for i in sorted(unknown_n):
            if reader == "outsider" and i in suppressed:
                bounds[(0, i)] = [1.0, math.inf]
            if i in suppressed:
                bounds[(1, i)] = [0.0, math.inf if reader == "outsider" else float(family.d[i])]
            else:
                bounds[(1, i)] = [float(v) for v in family.band[i]]
        _propagate(family, bounds, coupled=reader == "outsider")
        result[reader] = bounds
    return result


def propagation_failures(
    family: _Family, suppressed: Collection[int], bounds: dict[Reader, Bounds] | None = None
) -> list[Finding]:
    """Targets whose propagated interval is too narrow, found without solving anything.

    The propagated interval contains every integer solution, so such a target is too narrow for
    a reader who uses that counts are integers (``exact`` False; the bounds are outer bounds)."""
    suppressed = set(suppressed)
    if bounds is None:
        bounds = propagate_bounds(family, suppressed)
    primary_targets = sorted(family.primary & suppressed)
    checks: list[tuple[int, int, Quantity, Reader]] = [(i, 0, "denominator", "outsider") for i in primary_targets]
    checks += [(i, 1, "numerator", "knows_denominators") for i in sorted(primary_targets + sorted(family.band_watch))]
    failures: list[Finding] = []
    for i, q, quantity, reader in checks:
        lo, hi = bounds[reader][(q, i)]
        required = family.required_denominator(i) if q == 0 else family.required_numerator(i)
        if hi - lo < required:
            reason: Literal["primary", "band"] = "primary" if i in family.primary else "band"
            failures.append(Finding(family.keys[i], reason, quantity, reader, int(lo), int(hi), required, False))
    return failures


def _terms(family: _Family, e: int, q: int, bounds: Bounds) -> tuple[float, list[tuple[int, float]]]:
    """Equation ``e`` for quantity ``q`` as ``sum(coefficient * x) = rhs`` over unknowns."""
    total, parts = family.equations[e]
    known = family.d if q == 0 else family.n
    rhs = 0.0
    terms = []
    for c in (total, *parts):
        coefficient = 1.0 if c == total else -1.0
        if (q, c) in bounds:
            terms.append((c, coefficient))
        else:
            rhs -= coefficient * float(known[c])
    return rhs, terms


def _implied(rhs: float, terms: list[tuple[int, float]], q: int, bounds: Bounds) -> list[tuple[float, float]]:
    """For every unknown of one equation, the interval the equation implies given the others."""
    inf = math.inf
    term_lo: list[float] = []
    term_hi: list[float] = []
    sum_lo = sum_hi = 0.0
    inf_lo = inf_hi = 0
    for c, coefficient in terms:
        lo, hi = bounds[(q, c)]
        if coefficient < 0:
            lo, hi = -hi, -lo
        term_lo.append(lo)
        term_hi.append(hi)
        if lo == -inf:
            inf_lo += 1
        else:
            sum_lo += lo
        if hi == inf:
            inf_hi += 1
        else:
            sum_hi += hi
    implied = []
    for k, (_, coefficient) in enumerate(terms):
        lo, hi = term_lo[k], term_hi[k]
        if lo == -inf:
            others_lo = -inf if inf_lo > 1 else sum_lo
        else:
            others_lo = -inf if inf_lo else sum_lo - lo
        if hi == inf:
            others_hi = inf if inf_hi > 1 else sum_hi
        else:
            others_hi = inf if inf_hi else sum_hi - hi
        new_lo, new_hi = rhs - others_hi, rhs - others_lo
        if coefficient < 0:
            new_lo, new_hi = -new_hi, -new_lo
        if new_lo != -inf:
            new_lo = math.ceil(new_lo - _EPS)
        if new_hi != inf:
            new_hi = math.floor(new_hi + _EPS)
        implied.append((new_lo, new_hi))
    return implied


def implied_width(family: _Family, e: int, q: int, bounds: Bounds, cell: int) -> float:
    """Width of ``cell``'s interval implied by equation ``e`` alone (given the other bounds)."""
    rhs, terms = _terms(family, e, q, bounds)
    for (c, _), (lo, hi) in zip(terms, _implied(rhs, terms, q, bounds), strict=True):
        if c == cell:
            own_lo, own_hi = bounds[(q, cell)]
            return min(hi, own_hi) - max(lo, own_lo)
    return math.inf


def _propagate(family: _Family, bounds: Bounds, coupled: bool) -> None:
    """Tighten ``bounds`` in place by interval arithmetic over the equations (a worklist)."""
    equations_of_var: dict[tuple[int, int], list[int]] = defaultdict(list)
    relevant: list[tuple[int, int]] = []  # (equation, quantity)
    for e, (total, parts) in enumerate(family.equations):
        for q in (0, 1):
            if any((q, c) in bounds for c in (total, *parts)):
                slot = len(relevant)
                relevant.append((e, q))
                for c in (total, *parts):
                    if (q, c) in bounds:
                        equations_of_var[(q, c)].append(slot)
    data = [_terms(family, e, q, bounds) for e, q in relevant]  # the unknowns stay the same
    queue = list(range(len(relevant) - 1, -1, -1))
    queued = set(queue)
    budget = 50 * max(1, len(relevant))
    while queue and budget > 0:
        budget -= 1
        slot = queue.pop()
        queued.discard(slot)
        q = relevant[slot][1]
        rhs, terms = data[slot]
        changed = []
        for (c, _), (new_lo, new_hi) in zip(terms, _implied(rhs, terms, q, bounds), strict=True):
            lo, hi = bounds[(q, c)]
            if new_lo > lo or new_hi < hi:
                bounds[(q, c)] = [max(lo, new_lo), min(hi, new_hi)]
                changed.append((q, c))
        if coupled:
            for _, c in list(changed):
                if (0, c) in bounds and (1, c) in bounds:
                    d_b, n_b = bounds[(0, c)], bounds[(1, c)]
                    if n_b[0] > d_b[0]:
                        d_b[0] = n_b[0]
                        changed.append((0, c))
                    if d_b[1] < n_b[1]:
                        n_b[1] = d_b[1]
                        changed.append((1, c))
        for var in changed:
            for other in equations_of_var[var]:
                if other not in queued:
                    queued.add(other)
                    queue.append(other)


def _check(family: _Family, suppressed: Collection[int], exact: bool = False,
           certificates: Collection[Certificate] = ()) -> ReleaseCheck:
    started = time.perf_counter()
    suppressed = set(suppressed)
    shown = certified_widths(family, suppressed, certificates) if certificates else {}
    published_primary = sorted(family.primary - suppressed)
    unknown = set(suppressed) | {i for i in family.band if i not in suppressed}
    targets = (family.primary & suppressed) | family.band_watch
    findings: list[Finding] = []
    solved = 0
    components = 0
    for members in _components(family, unknown):
        if not any(i in targets for i in members):
            continue
        components += 1
        cache_key = (exact, tuple(members), tuple(i in suppressed for i in members))
        if cache_key not in family.cache:
            family.cache[cache_key] = _check_component(family, members, suppressed, exact, shown)
            solved += family.cache[cache_key][1]
        findings.extend(family.cache[cache_key][0])
    findings.sort(key=lambda f: (sort_key(f.cell), f.quantity))
    failures = [f for f in findings if not f.passed]
    # integer reasoning can be sharper than the LP relaxation: a target that bound propagation
    # (with integer rounding) already pins too narrowly fails as well
    failed = {(f.cell, f.quantity) for f in failures}
    failures += [f for f in propagation_failures(family, suppressed) if (f.cell, f.quantity) not in failed]
    failures.sort(key=lambda f: (sort_key(f.cell), f.quantity))
    return ReleaseCheck(
        ok=not failures and not published_primary,
        findings=tuple(findings),
        failures=tuple(failures),
        published_primary=tuple(family.keys[i] for i in published_primary),
        components=components,
        lp_solved=solved,
        seconds=time.perf_counter() - started,
    )


def release_check(
    linked: LinkedTables,
    suppressed: Collection[Hashable],
    policy: SuppressionPolicy,
    thresholds: Mapping[str, int],
    *,
    exact: bool = False,
) -> ReleaseCheck:
    """Check a suppression pattern (the set of withheld cells) for a family.

    Fails (``ok`` False) when a primary cell is published, or when a requirement described in
    the module docstring does not hold; ``failures`` lists the offending intervals.
    """
    family = _Family.build(linked, policy, thresholds)
    unknown = [key for key in suppressed if key not in family.index]
    if unknown:
        raise ValueError(f"unknown cells in the suppression pattern: {unknown[:3]!r}")
    empty = [key for key in suppressed if linked.cells[key].denominator == 0]
    if empty:
        raise ValueError(f"empty cells are always published, not withheld: {empty[:3]!r}")
    return _check(family, {family.index[key] for key in suppressed}, exact=exact)
