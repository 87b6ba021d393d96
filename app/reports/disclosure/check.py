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

1. bound propagation (:mod:`.propagation`): interval arithmetic over the equations gives
   outer bounds of the integer solutions; a target whose outer bound is already too narrow
   fails without any LP; it counts as a failure of the check too (``protect`` escalates on
   these first and runs the LPs once propagation finds nothing);
2. the unknowns split into independent components (linked by equations through other
   unknowns, see :mod:`.reader_lp`); a component's results depend only on its members and are
   cached;
3. witness rounds: one LP pushes all open targets of a component up and one pushes them down
   (later rounds with mixed signs); every feasible point, with the true values, certifies a
   lower bound of each target's width, so most targets pass without their own LP;
4. local certificates: an LP over the target's neighbourhood with everything further away
   fixed at its true value (a subset of the feasible set, so a wide interval proves the case);
5. only then the target's own LPs over the component (maximise; minimise only if needed),
   warm-started from the previous optimum (HiGHS's primal simplex through SciPy's bundled
   ``highspy`` core, see :mod:`.highs`; ``scipy.optimize.linprog`` if that is unavailable).

Pass/fail of every target equals that of its exact LP, whatever path decided it (the fast paths
only ever certify passes); ``exact=True`` solves both LPs for every target anyway, so that every
reported interval is the exact optimum.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Hashable, Mapping

from app.reports.disclosure.findings import Finding, Quantity, Reader, ReleaseCheck
from app.reports.disclosure.indexed import IndexedFamily
from app.reports.disclosure.perturbation import Certificate, certified_widths
from app.reports.disclosure.policy import SuppressionPolicy
from app.reports.disclosure.propagation import propagation_failures
from app.reports.disclosure.reader_lp import ReaderProgramme, independent_components
from app.reports.disclosure.tables import LinkedTables, sort_key

_EPS = 1e-6
_LOCAL_RADII = (1, 2)  # neighbourhood sizes tried for local certificates


def _neighbourhood(family: IndexedFamily, start: int, unknown: set[int], radius: int) -> list[int]:
    """Unknown cells reachable from ``start`` through at most ``radius`` equations."""
    seen = {start}
    frontier = [start]
    for _ in range(radius):
        layer: set[int] = set()
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
    family: IndexedFamily, members: list[int], suppressed: set[int], exact: bool,
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
        programme = ReaderProgramme(family, members, suppressed, reader)
        var = programme.d_var if quantity == "denominator" else programme.n_var
        truth = family.d if quantity == "denominator" else family.n
        required = {
            i: family.required_denominator(i) if quantity == "denominator" else family.required_numerator(i)
            for i in targets
        }
        low = {i: int(truth[i]) for i in targets}
        high = dict(low)
        q = 0 if quantity == "denominator" else 1
        already_shown = shown or {}
        for i in targets:  # verified certificates (see .perturbation) already show a part
            if (q, i) in already_shown:
                lo, hi = already_shown[(q, i)]
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
                small = ReaderProgramme(family, _neighbourhood(family, i, unknown, radius), suppressed, reader)
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

def check_pattern(family: IndexedFamily, suppressed: Collection[int], exact: bool = False,
                  certificates: Collection[Certificate] = (),
                  propagated: Collection[Finding] | None = None) -> ReleaseCheck:
    """The release check of a pattern given as cell indices (see :func:`release_check`).

    ``certificates`` (see :mod:`.perturbation`) that verify against the pattern spare their
    targets an LP. ``propagated``: :func:`.propagation.propagation_failures` of this very
    pattern when the caller has them already (bound propagation is then not run again).
    Results per component are cached in ``family.cache``."""
    started = time.perf_counter()
    suppressed = set(suppressed)
    shown = certified_widths(family, suppressed, certificates) if certificates else {}
    published_primary = sorted(family.primary - suppressed)
    unknown = set(suppressed) | {i for i in family.band if i not in suppressed}
    targets = (family.primary & suppressed) | family.band_watch
    findings: list[Finding] = []
    solved = 0
    components = 0
    for members in independent_components(family, unknown):
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
    if propagated is None:
        propagated = propagation_failures(family, suppressed)
    failures += [f for f in propagated if (f.cell, f.quantity) not in failed]
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
    family = IndexedFamily.build(linked, policy, thresholds)
    unknown = [key for key in suppressed if key not in family.index]
    if unknown:
        raise ValueError(f"unknown cells in the suppression pattern: {unknown[:3]!r}")
    empty = [key for key in suppressed if linked.cells[key].denominator == 0]
    if empty:
        raise ValueError(f"empty cells are always published, not withheld: {empty[:3]!r}")
    return check_pattern(family, {family.index[key] for key in suppressed}, exact=exact)
