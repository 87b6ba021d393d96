"""Primary suppression and secondary suppression by Gaussian elimination.

Secondary suppression follows the idea of Statistics Norway's GaussSuppression (Langsrud):
every cell is a vector over *inner* variables (the non-empty base cells it adds up, or, for a
family given only by equations, a basis of the solutions of its equations). A suppressed cell
is disclosed exactly when its vector lies in the span of the published cells' vectors. The
candidates for publication are taken one by one in a fixed order and added to a basis of the
published span; a candidate whose addition would bring a primary cell into that span is
suppressed instead (secondary). Because the largest cells come first, the cells given up are
the small ones, so little information is lost; ties go to the cell that adds up more inner
cells (totals before their parts) and then to the canonical key order.

Arithmetic is exact: vectors are sparse integer dicts, eliminated fraction-free with gcd
normalisation. The test "does adding candidate ``c`` disclose primary ``p``" reduces both
against the current basis (semi-reduced echelon form, so reduced vectors are zero at every
pivot); then ``p`` is in ``span(basis + c)`` exactly when the reduced ``p`` is a multiple of
the reduced ``c``. Reduced primaries are kept up to date and indexed by their normalised
form, so each candidate costs one reduction and one dictionary look-up.

A cell that one of the family's equations (``total = sum(parts)``) gives as the sum or the
difference of cells already in the published span is in that span itself: it is not reduced at
all (:class:`_Relations`). The equation is used only where it holds for the vectors themselves
(checked once, exactly), so this changes the work, never the answer. In a region family half of
the published cells are such totals, and they are the longest vectors.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from math import gcd

from app.reports.disclosure.policy import SuppressionPolicy, cell_threshold, validate_thresholds
from app.reports.disclosure.tables import LinkedTables, sort_key

Vector = dict[int, int]


def cell_thresholds(
    linked: LinkedTables, policy: SuppressionPolicy, thresholds: Mapping[str, int]
) -> dict[Hashable, int]:
    """The threshold of every cell: the strictest of the municipalities it covers."""
    validate_thresholds(policy, thresholds)
    cache: dict[frozenset[str], int] = {}
    result = {}
    assert linked.municipalities is not None  # LinkedTables fills it in on construction
    for key, members in linked.municipalities.items():
        if members not in cache:
            cache[members] = cell_threshold(policy, thresholds, sorted(members))
        result[key] = cache[members]
    return result


def primary_suppressed(linked: LinkedTables, cell_threshold_of: Mapping[Hashable, int]) -> frozenset[Hashable]:
    """Cells with ``0 < denominator < threshold``. Empty cells concern nobody and are published."""
    return frozenset(
        key for key, counts in linked.cells.items() if 0 < counts.denominator < cell_threshold_of[key]
    )


def _normalise(vector: Vector) -> tuple[tuple[int, int], ...]:
    """Canonical form of the line through ``vector``: gcd 1, first entry positive."""
    items = sorted(vector.items())
    content = 0
    for _, value in items:
        content = gcd(content, value)
    if items[0][1] < 0:
        content = -content
    return tuple((column, value // content) for column, value in items)


def _shrink(vector: Vector) -> None:
    content = 0
    for value in vector.values():
        content = gcd(content, value)
        if content == 1:
            return
    if content > 1:
        for column in vector:
            vector[column] //= content


class _Basis:
    """A basis of the published span in semi-reduced echelon form.

    Each basis vector has a pivot column; a vector added later is zero at every earlier pivot.
    Reducing a vector therefore eliminates pivots in insertion order.
    """

    def __init__(self) -> None:
        self.vectors: dict[int, Vector] = {}  # pivot column -> vector
        self.rank: dict[int, int] = {}  # pivot column -> insertion index

    def reduce(self, vector: Mapping[int, int]) -> Vector:
        result = dict(vector)
        heap = [(self.rank[c], c) for c in result if c in self.rank]
        heapq.heapify(heap)
        while heap:
            _, column = heapq.heappop(heap)
            a = result.get(column)
            if not a:
                continue
            basis = self.vectors[column]
            b = basis[column]
            g = gcd(a, b)
            scale, factor = b // g, a // g
            if scale != 1:
                for key in result:
                    result[key] *= scale
            for key, value in basis.items():
                new = result.get(key, 0) - factor * value
                if new:
                    if key not in result and key in self.rank:
                        heapq.heappush(heap, (self.rank[key], key))
                    result[key] = new
                else:
                    result.pop(key, None)
            if scale != 1 and result:
                _shrink(result)
        return result

    def add(self, reduced: Vector) -> int:
        """Add an already reduced, non-zero vector; returns its pivot column."""
        unit = [c for c, v in reduced.items() if v in (1, -1)]
        pivot = min(unit) if unit else min(reduced)
        self.vectors[pivot] = reduced
        self.rank[pivot] = len(self.rank)
        return pivot


class _Relations:
    """The family's equations, to tell cheaply that a cell lies in a span already.

    ``implied(cell, in_span)``: some equation ``total = sum(parts)`` that holds for the vectors
    (each checked once, exactly: the total's vector is the sum of its parts' vectors) has every
    other cell in ``in_span``; then ``cell`` is their sum or difference, so in the span as well.
    """

    def __init__(self, vectors: Sequence[Mapping[int, int]], equations: Iterable[tuple[int, Sequence[int]]]) -> None:
        self._vectors = vectors
        self._equations = [(total, tuple(parts)) for total, parts in equations]
        self._of: dict[int, list[int]] = defaultdict(list)
        for number, (total, parts) in enumerate(self._equations):
            coefficient: dict[int, int] = defaultdict(int)  # in ``total - sum(parts) = 0``
            coefficient[total] += 1
            for part in parts:
                coefficient[part] -= 1
            for cell, value in coefficient.items():
                if value:  # an equation in which a cell cancels out says nothing about it
                    self._of[cell].append(number)
        self._holds: dict[int, bool] = {}

    def implied(self, cell: int, in_span: Collection[int]) -> bool:
        for number in self._of.get(cell, ()):
            total, parts = self._equations[number]
            if (total == cell or total in in_span) and all(p == cell or p in in_span for p in parts):
                holds = self._holds.get(number)
                if holds is None:
                    holds = self._holds[number] = self._adds_up(total, parts)
                if holds:
                    return True
        return False

    def _adds_up(self, total: int, parts: Sequence[int]) -> bool:
        vectors = self._vectors
        summed: dict[int, int] = {}
        for part in parts:
            for column, value in vectors[part].items():
                summed[column] = summed.get(column, 0) + value
        return ({c: v for c, v in summed.items() if v}
                == {c: v for c, v in vectors[total].items() if v})


def gauss_secondary(
    vectors: Sequence[Mapping[int, int]],
    primary: Collection[int],
    candidates: Iterable[int],
    published_first: Iterable[int] = (),
    equations: Iterable[tuple[int, Sequence[int]]] = (),
) -> frozenset[int]:
    """Return the candidates that must be suppressed so that no primary cell is a linear
    combination of published cells.

    vectors
        cell index -> sparse integer vector over inner variables.
    primary
        indices of primary suppressed cells (never published).
    candidates
        indices that may be published, in order of preference (most wanted first).
    published_first
        indices published whatever happens and entered before the candidates (cells known to
        be zero; publishing them can never disclose a cell with a positive count).
    equations
        ``(total, parts)`` relations between cells (the family's): a cell they give from cells
        in the published span is published without a reduction (the same result, less work).
    """
    primary = list(primary)
    relations = _Relations(vectors, equations)
    in_span: set[int] = set()  # cells whose vector is in the published span
    basis = _Basis()
    reduced: dict[int, Vector] = {}
    by_column: dict[int, set[int]] = defaultdict(set)
    by_line: dict[tuple, set[int]] = defaultdict(set)
    line_of: dict[int, tuple] = {}
    for p in primary:
        vector = {c: v for c, v in vectors[p].items() if v}
        if not vector:
            raise ValueError("a primary cell has an empty vector (a positive count adding up nothing)")
        reduced[p] = vector
        for column in vector:
            by_column[column].add(p)
        line_of[p] = _normalise(vector)
        by_line[line_of[p]].add(p)

    def publish(vector: Vector) -> None:
        pivot = basis.add(vector)
        b = vector[pivot]
        for p in sorted(by_column.get(pivot, ())):
            old = reduced[p]
            a = old[pivot]
            g = gcd(a, b)
            scale, factor = b // g, a // g
            new = {c: v * scale for c, v in old.items()}
            for column, value in vector.items():
                updated = new.get(column, 0) - factor * value
                if updated:
                    new[column] = updated
                else:
                    new.pop(column, None)
            if not new:  # pragma: no cover - excluded by the parallel test before publishing
                raise AssertionError("a primary cell became derivable")
            _shrink(new)
            for column in old.keys() - new.keys():
                by_column[column].discard(p)
            for column in new.keys() - old.keys():
                by_column[column].add(p)
            reduced[p] = new
            by_line[line_of[p]].discard(p)
            line_of[p] = _normalise(new)
            by_line[line_of[p]].add(p)

    for index in published_first:
        if not relations.implied(index, in_span):
            vector = basis.reduce(vectors[index])
            if vector:
                publish(vector)
        in_span.add(index)

    suppressed = set()
    primary_set = set(primary)
    for index in candidates:
        if index in primary_set:
            continue
        if relations.implied(index, in_span) or not (vector := basis.reduce(vectors[index])):
            in_span.add(index)  # already determined by what is published: free to publish
            continue
        if by_line.get(_normalise(vector)):
            suppressed.add(index)
        else:
            publish(vector)
            in_span.add(index)
    return frozenset(suppressed)


def derivable(vectors: Sequence[Mapping[int, int]], published: Iterable[int], targets: Iterable[int],
              equations: Iterable[tuple[int, Sequence[int]]] = ()) -> list[int]:
    """The targets whose vector lies in the span of the published cells' vectors.

    A check only (one basis of the published span, then one reduction per target): cheaper
    than :func:`gauss_secondary`, which keeps every primary reduced while it chooses.

    Span membership does not depend on the order the published vectors come in, so they are
    taken in the cheapest one. First the columns the published cells pin down on their own are
    peeled off: a published vector with one non-zero column ``c`` puts the unit vector ``e_c`` in
    the span, and then ``span(V + e_c)`` is ``span(V without column c) + e_c``, so column ``c``
    can be dropped from every vector (a target is in the span exactly when what is left of it
    is in the span of what is left of the others). Dropping columns may leave more vectors with
    one column: repeated until none is. What is left (usually a small core) is eliminated
    exactly as before, the shortest vectors first (less fill-in), without duplicates, and without
    the cells ``equations`` give from cells taken before them (see :class:`_Relations`).
    """
    published = list(published)
    relations = _Relations(vectors, equations)
    taken: set[int] = set()  # published cells whose vector is in the span of those taken so far
    remaining: dict[int, dict[int, int]] = {}
    holders: dict[int, list[int]] = defaultdict(list)  # column -> published vectors with it
    single: list[int] = []
    for index in published:
        vector = {c: v for c, v in vectors[index].items() if v}
        if not vector:
            taken.add(index)
            continue
        remaining[index] = vector
        for column in vector:
            holders[column].append(index)
        if len(vector) == 1:
            single.append(index)
    known: set[int] = set()
    while single:
        left = remaining.get(single.pop())
        if left is None or len(left) != 1:
            continue
        (column,) = left
        known.add(column)
        for other in holders.pop(column, ()):
            rest = remaining.get(other)
            if rest is None or column not in rest:
                continue
            del rest[column]
            if not rest:
                del remaining[other]
                taken.add(other)  # in the span of the unit vectors peeled off
            elif len(rest) == 1:
                single.append(other)
    basis = _Basis()
    seen: set[tuple[tuple[int, int], ...]] = set()
    for index in sorted(remaining, key=lambda i: (len(remaining[i]), i)):
        # a total (or part) of cells taken before: in their span (peeling is linear, so the
        # equation holds for what is left of the vectors too)
        implied = relations.implied(index, taken)
        taken.add(index)
        if implied:
            continue
        line = _normalise(remaining[index])
        if line in seen:
            continue
        seen.add(line)
        vector = basis.reduce(remaining[index])
        if vector:
            basis.add(vector)
    out = []
    for t in targets:
        rest = {c: v for c, v in vectors[t].items() if v and c not in known}
        if not rest or not basis.reduce(rest):
            out.append(t)
    return out


def vectors_from_equations(size: int, equations: Iterable[tuple[int, Sequence[int]]]) -> list[Vector]:
    """Inner vectors for cells given only by ``total = sum(parts)`` equations.

    Solves the homogeneous system exactly (integer row reduction) and expresses every cell in
    the free variables: a free cell is its own inner variable, a pivot cell the combination of
    free cells its reduced equation gives. Span relations between these vectors are exactly
    the linear consequences of the equations.
    """
    rows: dict[int, Vector] = {}  # pivot -> row
    order: list[int] = []
    total_weight: dict[int, int] = defaultdict(int)
    equations = list(equations)
    for total, _ in equations:
        total_weight[total] += 1
    basis = _Basis()
    for total, parts in equations:
        row: Vector = {total: 1}
        for part in parts:
            row[part] = row.get(part, 0) - 1
        row = basis.reduce({c: v for c, v in row.items() if v})
        if not row:
            continue
        # pivot on the coarsest cell (a total of many equations) so that totals are expressed
        # in their parts, which keeps the rows short
        pivot = max(row, key=lambda c: (total_weight[c], -c))
        basis.vectors[pivot] = row
        basis.rank[pivot] = len(basis.rank)
        rows[pivot] = row
        order.append(pivot)
    for position in range(len(order) - 1, -1, -1):  # back substitution: drop later pivots
        pivot = order[position]
        row = rows[pivot]
        for other in sorted(c for c in row if c != pivot and c in rows):
            a = row.get(other)
            if not a:
                continue
            b = rows[other][other]
            g = gcd(a, b)
            scale, factor = b // g, a // g
            new = {c: v * scale for c, v in row.items()}
            for column, value in rows[other].items():
                updated = new.get(column, 0) - factor * value
                if updated:
                    new[column] = updated
                else:
                    new.pop(column, None)
            _shrink(new)
            row = new
        rows[pivot] = row
    vectors: list[Vector] = []
    for index in range(size):
        if index in rows:
            row = rows[index]
            sign = 1 if row[index] > 0 else -1
            vectors.append({c: -v * sign for c, v in row.items() if c != index})
        else:
            vectors.append({index: 1})
    return vectors


def inner_vectors(linked: LinkedTables) -> list[Vector]:
    """Vectors of all cells, in ``linked.keys`` order."""
    keys = linked.keys
    if linked.composition is not None:
        inner = sorted(frozenset().union(*linked.composition.values()), key=sort_key)
        column = {base: i for i, base in enumerate(inner)}
        return [{column[b]: 1 for b in linked.composition[key]} for key in keys]
    index = {key: i for i, key in enumerate(keys)}
    return vectors_from_equations(
        len(keys), [(index[e.total], [index[p] for p in e.parts]) for e in linked.equations]
    )


def publication_order(linked: LinkedTables, vectors: Sequence[Mapping[int, int]]) -> list[int]:
    """Cell indices with a positive count, most wanted for publication first: larger
    denominator, then more inner cells (totals before parts), then canonical key order."""
    keys = linked.keys
    positive = [i for i, key in enumerate(keys) if linked.cells[key].denominator > 0]
    return sorted(positive, key=lambda i: (-linked.cells[keys[i]].denominator, -len(vectors[i]), sort_key(keys[i])))


def secondary_suppressed(
    linked: LinkedTables,
    primary: Collection[Hashable],
    also_suppress: Collection[Hashable] = (),
    vectors: Sequence[Mapping[int, int]] | None = None,
    at_risk: Collection[Hashable] | None = None,
    equations: Iterable[tuple[int, Sequence[int]]] | None = None,
) -> frozenset[Hashable]:
    """Secondary suppression for a family: the cells (not primary, not in ``also_suppress``)
    that must be withheld so that no primary cell is a linear combination of published ones.

    ``at_risk``: the primary cells that publishing *every* candidate would make derivable
    (:func:`derivable`), when the caller knows them. Only those are followed through the
    elimination: the cells published are always a subset of the candidates, so a primary cell
    outside their span stays outside it whatever is chosen, and the result is the same as with
    every primary cell followed (at a fraction of the work: the others never need reducing).
    ``equations``: the family's relations by cell index (default: ``linked.equations``)."""
    keys = linked.keys
    if vectors is None:
        vectors = inner_vectors(linked)
    index = {key: i for i, key in enumerate(keys)}
    blocked = {index[k] for k in also_suppress} | {index[k] for k in primary}
    zeros = [i for i, key in enumerate(keys) if linked.cells[key].denominator == 0]
    order = [i for i in publication_order(linked, vectors) if i not in blocked]
    followed = primary if at_risk is None else [k for k in at_risk if k in primary]
    if equations is None:
        equations = [(index[e.total], [index[p] for p in e.parts]) for e in linked.equations]
    found = gauss_secondary(vectors, sorted(index[k] for k in followed), order, published_first=zeros,
                            equations=equations)
    return frozenset(keys[i] for i in found)

