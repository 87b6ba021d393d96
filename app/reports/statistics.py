"""Confidence intervals for report cells: Wilson for shares, Student's t for mean marks.

Pure functions over counts, as the aggregate store holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy.stats import t as student_t

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, n: int, z: float = Z_95) -> Interval | None:
    """Wilson score interval for a proportion, as fractions 0..1 (None when n is 0)."""
    if n <= 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class MeanSummary:
    n: int
    mean: float
    interval: Interval | None


def mean_of_marks(marks: Mapping[int, int], confidence: float = 0.95) -> MeanSummary | None:
    """Mean and t-interval of marks given as {mark: count} (None without marks)."""
    n = sum(marks.values())
    if n == 0:
        return None
    total = sum(mark * count for mark, count in marks.items())
    mean = total / n
    if n < 2:
        return MeanSummary(n, mean, None)
    variance = sum(count * (mark - mean) ** 2 for mark, count in marks.items()) / (n - 1)
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    return MeanSummary(n, mean, Interval(mean - half, mean + half))
