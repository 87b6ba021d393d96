"""Bound propagation: outer bounds of the withheld counts without solving anything.

Interval arithmetic over each equation of the family, repeated until nothing tightens (rounded
inwards to integers, as counts are integers), contains every feasible integer solution. The
release check (:mod:`.check`) uses it first: a target whose propagated interval is already too
narrow fails without any LP, and ``protect`` escalates on these before it runs the LPs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection
from typing import Literal

from app.reports.disclosure.findings import Finding, Quantity, Reader
from app.reports.disclosure.indexed import IndexedFamily

_EPS = 1e-6

Bounds = dict[tuple[int, int], list[float]]  # (0 = denominator / 1 = numerator, cell) -> [lo, hi]


def propagate_bounds(family: IndexedFamily, suppressed: Collection[int]) -> dict[Reader, Bounds]:
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
    family: IndexedFamily, suppressed: Collection[int], bounds: dict[Reader, Bounds] | None = None
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


def _terms(family: IndexedFamily, e: int, q: int, bounds: Bounds) -> tuple[float, list[tuple[int, float]]]:
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


def implied_width(family: IndexedFamily, e: int, q: int, bounds: Bounds, cell: int) -> float:
    """Width of ``cell``'s interval implied by equation ``e`` alone (given the other bounds)."""
    rhs, terms = _terms(family, e, q, bounds)
    for (c, _), (lo, hi) in zip(terms, _implied(rhs, terms, q, bounds), strict=True):
        if c == cell:
            own_lo, own_hi = bounds[(q, cell)]
            return min(hi, own_hi) - max(lo, own_lo)
    return math.inf


def _propagate(family: IndexedFamily, bounds: Bounds, coupled: bool) -> None:
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

