"""Confidence intervals for report cells: Wilson for shares, Student's t for mean marks.

Pure functions over counts, as the aggregate store holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy.special import stdtrit  # the inverse of Student's t CDF (t.ppf), without importing scipy.stats

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
    half = float(stdtrit(n - 1, 0.5 + confidence / 2)) * math.sqrt(variance / n)
    return MeanSummary(n, mean, Interval(mean - half, mean + half))


# ---- funnel plots (Spiegelhalter 2005) -------------------------------------------------------
Z_998 = 3.090232306167813  # two-sided 99.8%: the "three sigma" limits of a funnel plot


@dataclass(frozen=True)
class FunnelLimits:
    """Control limits around a target proportion for one denominator, as fractions 0..1."""

    n: int
    low_95: float
    high_95: float
    low_998: float
    high_998: float


def funnel_limits(target: float, n: int) -> FunnelLimits | None:
    """Spiegelhalter's control limits for a proportion with denominator ``n`` around ``target``
    (a fraction 0..1), by the binomial's normal approximation ``p ± z·√(p(1-p)/n)`` at z = 1.96
    (95%) and z = 3.09 (99.8%), clipped to [0, 1]. None when ``n`` is 0 or the target is not a
    proportion."""
    if n <= 0 or not 0.0 <= target <= 1.0:
        return None
    spread = math.sqrt(target * (1 - target) / n)

    def clip(x: float) -> float:
        return min(1.0, max(0.0, x))

    return FunnelLimits(n, clip(target - Z_95 * spread), clip(target + Z_95 * spread),
                        clip(target - Z_998 * spread), clip(target + Z_998 * spread))


def funnel_position(rate: float, n: int, target: float) -> str | None:
    """Where a unit with proportion ``rate`` over ``n`` lies against the funnel around ``target``:
    "inside" (within the 95% limits), "above_95"/"below_95" (outside 95%, inside 99.8%) or
    "above_998"/"below_998" (outside 99.8%); None without limits."""
    limits = funnel_limits(target, n)
    if limits is None:
        return None
    if rate > limits.high_998:
        return "above_998"
    if rate > limits.high_95:
        return "above_95"
    if rate < limits.low_998:
        return "below_998"
    if rate < limits.low_95:
        return "below_95"
    return "inside"
