"""The reader's linear programme: what a reader can infer about the withheld counts.

The unknowns of a suppression pattern (withheld cells, and the numerators of published band
cells) split into :func:`independent_components`, linked by equations through other unknowns.
A :class:`ReaderProgramme` is the LP of one component for one reader model (see :mod:`.check`):
variables for the unknown quantities, the family's equations over them with everything
published fixed at its value, and the bounds the reader knows.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_array, vstack

from app.reports.disclosure import highs
from app.reports.disclosure.findings import Reader
from app.reports.disclosure.indexed import IndexedFamily


def independent_components(family: IndexedFamily, unknown: set[int]) -> list[list[int]]:
    """The unknown cells in groups linked by equations (through unknowns only), in a fixed order."""
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


class ReaderProgramme:
    """The reader's LP for one component and one reader model."""

    def __init__(self, family: IndexedFamily, members: list[int], suppressed: set[int], reader: Reader) -> None:
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
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        rhs: list[float] = []
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

        self._highs: highs.HighsModel | None = None
        self._cost: dict[int, float] = {}
        self.row_dual = np.zeros(0)  # duals of the last solve (reduced cost = c - A^T y)
        self.col_dual = np.zeros(0)

    def _open_highs(self) -> highs.HighsModel:
        """A persistent HiGHS instance, so that re-solving with another objective starts from
        the previous optimal basis (a few simplex iterations instead of a full solve)."""
        parts = [m for m in (self.a_eq, self.a_ub) if m is not None]
        matrix = (vstack(parts) if len(parts) > 1 else parts[0]).tocsc() if parts else None
        b_eq = [] if self.b_eq is None else list(self.b_eq)
        b_ub = [] if self.b_ub is None else list(self.b_ub)
        row_lower = [*b_eq, *([-np.inf] * len(b_ub))]
        row_upper = [*b_eq, *b_ub]
        return highs.HighsModel(
            matrix,
            np.zeros(self.size),
            np.array([b[0] for b in self.bounds], dtype=float),
            np.array([b[1] for b in self.bounds], dtype=float),
            np.array(row_lower, dtype=float),
            np.array(row_upper, dtype=float),
            primal_simplex=True,
        )

    def optimise(self, objective: dict[int, float]) -> np.ndarray:
        """Minimise ``sum(weight * variable)``; returns an optimal point."""
        self.solved += 1
        if self._highs is None and highs.available():
            try:
                self._highs = self._open_highs()
            except highs.HighsUnavailable:  # pragma: no cover - a SciPy with another HiGHS API
                pass
        if self._highs is not None:
            changes = {var: 0.0 for var in self._cost}
            changes.update(objective)
            indices = np.array(sorted(changes), dtype=np.int32)
            self._highs.set_costs(indices, np.array([changes[i] for i in indices]))
            self._cost = {var: w for var, w in objective.items() if w}
            if not self._highs.run():
                raise RuntimeError(f"release check LP failed: {self._highs.status}")
            x, self.row_dual, self.col_dual = self._highs.values_and_duals()
            return x
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
