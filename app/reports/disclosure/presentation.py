"""What a published cell shows: rounded counts, a share, or a band.

Band rule (``small_count = s``, default 3), for a published cell with denominator ``d > 0``:

* *low band* when the numerator ``n < s``: the numerator shows as ``"< 3"`` and the share as
  an upper bound ``"<= x%"``; the reader learns ``0 <= n <= s - 1``;
* *high band* when the complement ``d - n < s``: the numerator shows as ``">= m"`` and the share
  as a lower bound ``">= y%"``; the reader learns ``d - s + 1 <= n <= d``.

(If both apply, which needs ``d < 2s``, the low band is shown.) Band bounds are computed only
from what is shown (the shown denominator, the rounding base and the threshold), so a band
never reveals more than the rounded counts beside it. Empty cells (``d = 0``) show ``0`` and no
share.

Rounding (``rounding_base = b > 0``): shown counts are rounded half-up to a multiple of ``b``.
A share is computed from the true counts unless ``share_from_rounded_counts`` is set; see the
package docstring for why that is safe here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from app.reports.disclosure.policy import SuppressionPolicy
from app.reports.disclosure.tables import CellCounts

BandKind = Literal["low", "high"]


@dataclass(frozen=True)
class Band:
    """A shown band instead of a numerator and share. Holds only what the reader may see."""

    kind: BandKind
    numerator_label: str
    share_label: str


def band_kind(counts: CellCounts, policy: SuppressionPolicy) -> BandKind | None:
    """Which band (if any) the band rule gives these true counts."""
    s = policy.small_count
    d, n = counts
    if s == 0 or d == 0:
        return None
    if n < s:
        return "low"
    if d - n < s:
        return "high"
    return None


def band_bounds(counts: CellCounts, policy: SuppressionPolicy) -> tuple[int, int] | None:
    """The numerator interval a reader learns from the band (for the release check)."""
    kind = band_kind(counts, policy)
    s = policy.small_count
    if kind == "low":
        return 0, min(s - 1, counts.denominator)
    if kind == "high":
        return max(0, counts.denominator - s + 1), counts.denominator
    return None


def round_count(value: int, base: int) -> int:
    """Round half-up to a multiple of ``base`` (``0``: unchanged)."""
    if base <= 0:
        return value
    return ((2 * value + base) // (2 * base)) * base


def _ceil1(x: float) -> float:
    return math.ceil(x * 10 - 1e-9) / 10


def _floor1(x: float) -> float:
    return math.floor(x * 10 + 1e-9) / 10


def _format(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:.1f}"


def make_band(counts: CellCounts, policy: SuppressionPolicy, threshold: int) -> Band | None:
    """The band shown for a published cell, or ``None``."""
    kind = band_kind(counts, policy)
    if kind is None:
        return None
    s = policy.small_count
    shown_d = round_count(counts.denominator, policy.rounding_base)
    # smallest true denominator consistent with what is shown (exact when not rounding)
    least_d = max(threshold, shown_d - policy.rounding_base // 2) if policy.rounding_base else counts.denominator
    if kind == "low":
        return Band("low", f"< {s}", f"<= {_format(_ceil1(100 * (s - 1) / least_d))}%")
    return Band(
        "high",
        f">= {max(0, least_d - s + 1)}",
        f">= {_format(_floor1(100 * (1 - (s - 1) / least_d)))}%",
    )


def share(counts: CellCounts, policy: SuppressionPolicy) -> float | None:
    """Share (percent, one decimal) shown for a published cell without a band."""
    d, n = counts
    if policy.share_from_rounded_counts and policy.rounding_base:
        d, n = round_count(d, policy.rounding_base), round_count(n, policy.rounding_base)
    if d == 0:
        return None
    return round(100 * n / d, 1)
