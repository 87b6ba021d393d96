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
