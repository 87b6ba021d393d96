"""Secondary cells chosen by minimum-cost perturbations, with certificates for the release check.

The release check asks, for every withheld quantity, whether a reader can narrow it to less
than its required width. The classic way to *build* a pattern that passes (Kelly, Golden and
Assad; Fischetti and Salazar; the "optimal" and "modular" methods of tau-Argus) turns that
question around: for a target cell ``p`` find a *perturbation* ``y`` of the unknown cells such
that

* every equation of the family still holds (``A y = 0``: a total moves with its parts),
* every cell stays within what the reader knows of it (a withheld denominator stays >= 1 and
  >= its numerator; a numerator stays within ``[0, d]`` or its band),
* published cells do not move (``y_c = 0``), except those we decide to withhold now,
* ``y_p`` is the required width.

Then ``truth`` and ``truth + y`` are two points the reader cannot tell apart, so ``p``'s interval
is at least ``|y_p|`` wide. Among all such perturbations a linear programme picks the one that
moves the cheapest published cells (cost: the cell's denominator per unit moved, so small cells
go before large ones and totals last); the published cells it moves are withheld. One solve
per target (warm-started, so each is a few simplex iterations), and a target whose width an
earlier perturbation already shows needs none: a perturbation stays valid as the pattern grows
(withholding more only frees cells).

The perturbations are kept as :class:`Certificate` objects. The release check re-verifies each
one against the final pattern in exact terms (every equation, every bound, nothing published
moves) and accepts a verified certificate as proof that the target passes; it solves its own
LPs only for targets without one. A certificate can only prove a pass, so the check's verdict
is the same as with LPs alone.

Reader models and requirements are those of :mod:`.check`: the *outsider* knows every
published count (denominators move, numerators are held at their true values, which is a
subset of what the outsider must consider, so a certificate remains valid); the reader who
*knows every denominator* sees only numerators move.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_array, diags

from app.reports.disclosure import highs
from app.reports.disclosure.findings import Reader
from app.reports.disclosure.indexed import IndexedFamily
from app.reports.disclosure.scopes import Scopes

_TOL = 1e-6
#: cost per unit moved of a cell that is already withheld: small, so perturbations stay short
_FREE = 1e-3


@dataclass(frozen=True)
class Certificate:
    """A perturbation of the withheld quantities that the reader cannot rule out.

    ``quantity`` 0 moves denominators (outsider), 1 numerators (a reader who knows every
    denominator). ``cells`` and ``shift`` are parallel: the cells that move and by how much.
    ``along``: for denominators, the numerators of the moved cells move by the same amount (the
    records added or taken away all had the outcome); otherwise numerators stay as they are.
    """

    reader: Reader
    quantity: int
    cells: tuple[int, ...]
    shift: tuple[float, ...]
    along: bool = False

    def moves(self) -> dict[int, float]:
        return dict(zip(self.cells, self.shift, strict=True))


def _room(
    family: IndexedFamily, quantity: int, cell: int, along: bool = False, withheld: bool = True
) -> tuple[float, float]:
    """How far a quantity may move down and up from its true value.

    A denominator stays >= 1 (a withheld cell is known not to be empty) and >= its numerator;
    moved ``along`` with it, the numerator stays >= 0 (and the complement is unchanged). A
    numerator stays within ``[0, d]``, or within its band where a published cell shows one."""
    d, n = int(family.d[cell]), int(family.n[cell])
    if quantity == 0:
        return float(min(n, d - 1) if along else d - max(1, n)), float(family.cap)
    if cell in family.band and not withheld:
        lo, hi = family.band[cell]
        return float(n - lo), float(hi - n)
    return float(n), float(d - n)


def verify(family: IndexedFamily, suppressed: set[int], certificate: Certificate) -> bool:
    """Is ``truth + shift`` a point the reader must consider possible under this pattern?"""
    q = certificate.quantity
    vector = np.zeros(len(family.keys))
    for cell, value in zip(certificate.cells, certificate.shift, strict=True):
        unknown = cell in suppressed or (q == 1 and cell in family.band)
        if not unknown:
            return False
        down, up = _room(family, q, cell, certificate.along, cell in suppressed)
        if value < -down - _TOL or value > up + _TOL:
            return False
        vector[cell] = value
    residual = family.equation_matrix @ vector
    return bool(np.all(np.abs(residual) <= _TOL))


def certified_widths(
    family: IndexedFamily, suppressed: set[int], certificates: Iterable[Certificate]
) -> dict[tuple[int, int], tuple[float, float]]:
    """``(quantity, cell) -> (lowest, highest)`` value shown possible by the valid certificates."""
    shown: dict[tuple[int, int], tuple[float, float]] = {}
    for certificate in certificates:
        if not verify(family, suppressed, certificate):
            continue
        truth = family.d if certificate.quantity == 0 else family.n
        for cell, value in zip(certificate.cells, certificate.shift, strict=True):
            key = (certificate.quantity, cell)
            low, high = shown.get(key, (float(truth[cell]), float(truth[cell])))
            shown[key] = (min(low, truth[cell] + value), max(high, truth[cell] + value))
    return shown


class _Perturbations:
    """The min-cost perturbation LP for one reader model, kept open between targets.

    Every cell has an up and a down column (``y = up - down``). Moving a published cell costs
    its denominator per unit, a withheld one next to nothing. A published band cell's numerator
    moves for free within its band, and beyond it through a second pair of columns at the cost
    of withholding it.
    """

    def __init__(self, family: IndexedFamily, quantity: int, suppressed: set[int], cells: list[int],
                 along: bool = False) -> None:
        self.family = family
        self.quantity = quantity
        self.along = along
        self.cells = cells
        # the columns, built array-wise (the same as taking the cells one by one: an up and a
        # down column each, and a second pair after them for a published band cell's numerator)
        size = len(cells)
        index = np.asarray(cells, dtype=np.int64)
        self.index = index
        d = family.d[index].astype(np.int64)
        n = family.n[index].astype(np.int64)
        withheld_now = np.fromiter((c in suppressed for c in cells), dtype=bool, count=size)
        if quantity == 1 and family.band:
            banded = np.fromiter((c in family.band for c in cells), dtype=bool, count=size) & ~withheld_now
        else:
            banded = np.zeros(size, dtype=bool)
        if quantity == 0:  # see _room
            down = np.minimum(n, d - 1) if along else d - np.maximum(1, n)
            up = np.full(size, family.cap)
        else:
            down, up = n, d - n
        full_down, full_up = down.astype(float), up.astype(float)
        down, up = full_down.copy(), full_up.copy()
        for k in np.flatnonzero(banded):
            lo, hi = family.band[cells[k]]
            down[k], up[k] = float(n[k] - lo), float(hi - n[k])
        weight = np.where(withheld_now | banded, _FREE, d.astype(float))
        width = np.where(banded, 4, 2)
        start = np.zeros(size, dtype=np.int64)
        np.cumsum(width[:-1], out=start[1:])
        columns = int(width.sum())
        owner = np.repeat(np.arange(size), width)
        offset = np.arange(columns) - np.repeat(start, width)  # 0, 1 (main pair), 2, 3 (beyond)
        self.sign = np.where(offset % 2 == 0, 1.0, -1.0)
        main_up, beyond = offset == 0, offset >= 2
        self.upper = np.where(main_up, up[owner], down[owner])
        self.upper[beyond] = np.where(offset[beyond] == 2, full_up[owner[beyond]] - up[owner[beyond]],
                                      full_down[owner[beyond]] - down[owner[beyond]])
        self.cost = np.where(beyond, d[owner].astype(float), weight[owner])
        self.owner = owner
        starts = start.tolist()
        self.main: dict[int, tuple[int, int]] = {c: (j, j + 1) for c, j in zip(cells, starts, strict=True)}
        self.beyond: dict[int, tuple[int, int]] = {
            cells[k]: (starts[k] + 2, starts[k] + 3) for k in np.flatnonzero(banded).tolist()}
        a = (_equations_of(family, cells)[:, self.owner] @ diags(self.sign)).tocsc()
        rows = np.zeros(a.shape[0])
        self.model = highs.HighsModel(a, self.cost.copy(), np.zeros(columns), self.upper.copy(), rows, rows)
        self.solved = 0

    def withheld(self, cells: Iterable[int]) -> None:
        """Cells now withheld move for (almost) free."""
        indices = [j for c in cells for pair in (self.main.get(c), self.beyond.get(c)) if pair for j in pair]
        if indices:
            idx = np.array(sorted(indices), dtype=np.int32)
            self.cost[idx] = _FREE
            self.model.set_costs(idx, self.cost[idx])

    def solve(self, cell: int, shift: float) -> tuple[dict[int, float], set[int]] | None:
        """The cheapest perturbation moving ``cell`` by ``shift`` (within what the reader knows of
        it), and the published cells it needs withheld; ``None`` when there is none."""
        up, down = self.main[cell]
        fixed, other = (up, down) if shift > 0 else (down, up)
        if abs(shift) > self.upper[fixed] + _TOL:
            return None
        changed = {fixed: abs(shift), other: 0.0}
        for j in self.beyond.get(cell, ()):
            changed[j] = 0.0  # the target itself keeps to what the reader knows of it
        idx = np.array(sorted(changed), dtype=np.int32)
        values = np.array([changed[j] for j in idx])
        self.model.set_bounds(idx, values, values)
        self.solved += 1
        result = None
        if self.model.run():
            x = self.model.values()
            moved = np.flatnonzero(x > 1e-7)
            y = np.zeros(len(self.cells))
            np.add.at(y, self.owner[moved], x[moved] * self.sign[moved])
            nonzero = np.flatnonzero(np.abs(y) > 1e-7)
            moves = dict(zip(self.index[nonzero].tolist(), np.round(y[nonzero], 9).tolist(), strict=True))
            needs = set(self.index[self.owner[moved[self.cost[moved] > _FREE]]].tolist())
            result = (moves, needs)
        self.model.set_bounds(idx, np.zeros(len(idx)), self.upper[idx])
        return result


def _equations_of(family: IndexedFamily, cells: list[int]) -> csc_array:
    """The family's equations touching ``cells``, over those cells (in the family's order),
    taken from the column-wise matrix by columns: no slicing of the whole row-wise matrix."""
    source = family.equation_columns
    columns = np.asarray(cells, dtype=np.int64)
    starts = source.indptr[columns]
    lengths = source.indptr[columns + 1] - starts
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    picked = np.arange(indptr[-1]) - np.repeat(indptr[:-1] - starts, lengths)  # entries, column by column
    rows = source.indices[picked]
    used = np.unique(rows)
    renumber = np.zeros(source.shape[0], dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return csc_array((source.data[picked], renumber[rows], indptr), shape=(len(used), len(cells)))


def secure(
    family: IndexedFamily, suppressed: set[int], order: list[int], known: Iterable[Certificate] = ()
) -> tuple[set[int], list[Certificate], int]:
    """Withhold more cells until every target has a perturbation of its required width.

    ``order``: the targets' cells in processing order. ``known``: certificates from an earlier
    run (another indicator with the same denominators, or this one with fewer cells withheld);
    those that verify here are kept and spare their targets an LP. Returns the cells added, the
    certificates, and the number of LPs solved. Targets for which no perturbation exists (or
    without HiGHS) are left to the release check's own escalation.
    """
    added: set[int] = set()
    certificates = [c for c in known if verify(family, suppressed, c)]
    shown_by_quantity: dict[int, dict[int, tuple[float, float]]] = {0: {}, 1: {}}
    for certificate in certificates:
        truth = family.d if certificate.quantity == 0 else family.n
        reached = shown_by_quantity[certificate.quantity]
        for c, value in zip(certificate.cells, certificate.shift, strict=True):
            lo, hi = reached.get(c, (float(truth[c]),) * 2)
            reached[c] = (min(lo, truth[c] + value), max(hi, truth[c] + value))
    if not highs.available():  # pragma: no cover - no perturbation step, the check decides
        return added, certificates, 0
    withheld = set(suppressed)
    solved = 0
    plans: list[tuple[int, Reader, list[int]]] = [
        (0, "outsider", [i for i in order if i in family.primary]),
        (1, "knows_denominators", [i for i in order if i in family.primary or i in family.band_watch]),
    ]
    scopes = Scopes(family)
    programmes: dict[tuple[int, bool, Hashable], _Perturbations] = {}
    # denominators move with their numerators held (the records moved did not have the outcome)
    # or along with them (they did); the first try is the one with more room where the
    # outcome is common, the other comes next
    common = 2 * int(family.n.sum()) > int(family.d.sum())

    def programme(quantity: int, along: bool, scope: Hashable) -> _Perturbations:
        if (quantity, along, scope) not in programmes:
            programmes[(quantity, along, scope)] = _Perturbations(
                family, quantity, withheld, scopes.cells(scope), along)
        return programmes[(quantity, along, scope)]

    for quantity, reader, targets in plans:
        if not targets:
            continue
        shown = shown_by_quantity[quantity]
        truth = family.d if quantity == 0 else family.n
        for target in targets:
            required = family.required_denominator(target) if quantity == 0 else family.required_numerator(target)
            low, high = shown.get(target, (float(truth[target]),) * 2)
            if high - low >= required - _TOL:
                continue
            found = _cheapest(family, programme, scopes.of(target), scopes.region_total, quantity, target, required,
                              [common, not common] if quantity == 0 else [False], withheld)
            if found is None:
                continue
            moves, needs, along = found
            new = needs - withheld
            if new:
                withheld |= new
                added |= new
                for other in programmes.values():
                    other.withheld(new)
            cells = tuple(sorted(moves))
            certificates.append(Certificate(reader, quantity, cells, tuple(moves[c] for c in cells), along))
            for c, value in moves.items():
                lo, hi = shown.get(c, (float(truth[c]),) * 2)
                shown[c] = (min(lo, truth[c] + value), max(hi, truth[c] + value))
    solved = sum(p.solved for p in programmes.values())
    return added, certificates, solved


def _cheapest(
    family: IndexedFamily,
    programme: Callable[[int, bool, Hashable], _Perturbations],
    scopes: list[Hashable],
    region_total: Callable[[int], bool],
    quantity: int,
    target: int,
    required: int,
    modes: list[bool],
    withheld: set[int],
) -> tuple[dict[int, float], set[int], bool] | None:
    """The perturbation to keep for one target: ``(moves, cells to withhold, along)``.

    The first scope that finds one decides, except where it would withhold a region's total: a
    small scope can miss a cheaper way round (the region's total withheld for want of room in
    three fellow members, where twenty small ones would do), so then the whole family is solved
    as well, whose LP cannot be worse. (Doing that for every cell to withhold finds a fifth
    fewer of them, at five to ten times the time.) Of the modes the one withholding least (by
    denominator) is kept.
    """
    best: tuple[float, tuple[dict[int, float], set[int], bool]] | None = None
    for along in modes:
        down, up = _room(family, quantity, target, along, withheld=target in withheld)
        attempts = [float(required)] if up >= required else []
        if down >= required:
            attempts.append(-float(required))
        for scope in scopes:
            found = _first(programme(quantity, along, scope), target, attempts)
            if found is None:
                continue
            if scope is not None and any(region_total(c) for c in found[1]):
                found = _first(programme(quantity, along, None), target, attempts) or found
            if not found[1]:
                return found[0], found[1], along
            cost = float(sum(int(family.d[c]) for c in found[1]))
            if best is None or cost < best[0]:
                best = (cost, (found[0], found[1], along))
            break
    return None if best is None else best[1]


def _first(programme: _Perturbations, target: int, attempts: list[float]) -> tuple[dict[int, float], set[int]] | None:
    for shift in attempts:
        found = programme.solve(target, shift)
        if found is not None:
            return found
    return None
