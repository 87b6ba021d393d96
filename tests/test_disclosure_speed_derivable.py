"""``derivable`` peels off the columns published cells pin down alone and eliminates the rest
in its own order: the answer must be exact span membership whatever the vectors."""

from __future__ import annotations

import random
from fractions import Fraction

from app.reports.disclosure.suppression import derivable


def _rank(rows: list[dict[int, int]]) -> int:
    """Rank over the rationals, by plain Gaussian elimination (the definition written out)."""
    matrix = [{c: Fraction(v) for c, v in row.items() if v} for row in rows]
    rank = 0
    pivots: list[tuple[int, dict[int, Fraction]]] = []
    for row in matrix:
        row = dict(row)
        for column, pivot in pivots:
            if row.get(column):
                factor = row[column] / pivot[column]
                for c, v in pivot.items():
                    row[c] = row.get(c, Fraction(0)) - factor * v
                    if not row[c]:
                        del row[c]
        if row:
            pivots.append((min(row), row))
            rank += 1
    return rank


def test_derivable_is_exact_span_membership() -> None:
    rng = random.Random(11)
    for _ in range(300):
        columns = rng.randint(1, 9)
        size = rng.randint(1, 14)
        vectors: list[dict[int, int]] = []
        for _ in range(size):
            length = rng.choice((1, 1, 2, 3, columns))
            chosen = rng.sample(range(columns), min(length, columns))
            vectors.append({c: rng.choice((1, 1, 1, -1, 2, 0)) for c in chosen})
        published = [i for i in range(size) if rng.random() < 0.6]
        targets = [i for i in range(size) if i not in published]
        base = _rank([vectors[i] for i in published])
        expected = [t for t in targets if _rank([vectors[i] for i in published] + [vectors[t]]) == base]
        assert derivable(vectors, published, targets) == expected


def test_an_equation_that_does_not_hold_for_the_vectors_is_not_used() -> None:
    """Equations let ``derivable`` skip a cell they give from cells already taken; one that does
    not hold for the vectors (a wrong total, a missing part) must change nothing. Random vectors,
    equations true by construction (a total is the sum of its parts) and false ones beside them
    (among them totals that are one of their own parts, where the total cancels out): still exact
    span membership."""
    rng = random.Random(23)
    for _ in range(300):
        columns = rng.randint(1, 8)
        vectors: list[dict[int, int]] = []
        for _ in range(rng.randint(1, 9)):
            chosen = rng.sample(range(columns), rng.randint(1, columns))
            vectors.append({c: rng.choice((1, 1, -1, 2)) for c in chosen})
        equations: list[tuple[int, list[int]]] = []
        for _ in range(rng.randint(1, 4)):  # totals that add up their parts
            parts = rng.sample(range(len(vectors)), rng.randint(1, min(3, len(vectors))))
            total: dict[int, int] = {}
            for p in parts:
                for c, v in vectors[p].items():
                    total[c] = total.get(c, 0) + v
            vectors.append({c: v for c, v in total.items() if v} or {0: 0})
            equations.append((len(vectors) - 1, parts))
        for _ in range(rng.randint(1, 4)):  # and "totals" that do not
            parts = rng.sample(range(len(vectors)), rng.randint(1, min(3, len(vectors))))
            total_index = rng.randrange(len(vectors))
            equations.append((total_index, parts))  # a total among its parts too: it cancels out
        size = len(vectors)
        published = [i for i in range(size) if rng.random() < 0.6]
        targets = [i for i in range(size) if i not in published]
        base = _rank([vectors[i] for i in published])
        expected = [t for t in targets if _rank([vectors[i] for i in published] + [vectors[t]]) == base]
        assert derivable(vectors, published, targets, equations) == expected


def test_a_cell_that_cancels_out_of_an_equation_is_not_given_by_it() -> None:
    """``total = total + other`` holds for any vectors when ``other`` is zero, but says nothing
    about ``total``: cell 1 (a copy of cell 0) is derivable from 0, never the other way round."""
    vectors = [{0: 1, 1: 1}, {0: 1, 1: 1}, {}]
    assert derivable(vectors, [0], [1], [(0, (0,))]) == [1]
    assert derivable(vectors, [2], [0], [(0, (0, 2))]) == []
