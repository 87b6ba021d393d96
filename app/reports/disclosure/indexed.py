"""A family indexed for the linear programmes: cells as integers, counts as arrays.

The release check (:mod:`.check`), bound propagation (:mod:`.propagation`) and the perturbation
step (:mod:`.perturbation`) all work on this one view of a family, built once per ``protect``
and reused across every check of it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.sparse import csc_array, csr_array

from app.reports.disclosure.findings import Finding
from app.reports.disclosure.policy import SuppressionPolicy
from app.reports.disclosure.presentation import band_bounds
from app.reports.disclosure.suppression import cell_thresholds, primary_suppressed
from app.reports.disclosure.tables import LinkedTables


@dataclass
class IndexedFamily:
    """Static data of a family, computed once and reused across checks.

    Cell ``i`` is ``keys[i]``, with counts ``d[i]`` and ``n[i]`` and threshold ``threshold[i]``.
    ``equations``: ``(total, parts)`` per equation of the family, plus an equality for every two
    cells that add up the same base cells; ``equations_of[i]``: the equations cell ``i`` is in.
    ``band``: the band a reader knows of each banded numerator; ``band_watch``: the published
    band cells whose numerator the release check examines. ``cap``: the bound that stands in for
    infinity in the LPs (far above any count). ``cache``: the release check's results per
    component.
    """

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
    def build(cls, linked: LinkedTables, policy: SuppressionPolicy, thresholds: Mapping[str, int]) -> IndexedFamily:
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

    @cached_property
    def equation_matrix(self) -> csr_array:
        """The equations as a sparse matrix (one row each: ``total - sum(parts) = 0``)."""
        rows, cols, vals = [], [], []
        for e, (total, parts) in enumerate(self.equations):
            rows.append(e)
            cols.append(total)
            vals.append(1.0)
            for c in parts:
                rows.append(e)
                cols.append(c)
                vals.append(-1.0)
        return csr_array((vals, (rows, cols)), shape=(len(self.equations), len(self.keys)))

    @cached_property
    def equation_columns(self) -> csc_array:
        """:attr:`equation_matrix` by columns (cheap to take a family's cells from)."""
        matrix = self.equation_matrix.tocsc()
        matrix.sort_indices()
        return matrix
