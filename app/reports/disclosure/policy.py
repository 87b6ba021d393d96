"""The suppression policy and the per-cell thresholds it implies.

The privacy configuration (``[disclosure]``) maps onto :class:`SuppressionPolicy`; the
per-municipality thresholds (``[disclosure.municipality_thresholds]``) are passed separately
to :func:`app.reports.disclosure.protect` because they are data about municipalities, not policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The floor no configuration can go below (DOMAIN.md, "our choice").
MINIMUM_CELL_SIZE_FLOOR = 10


@dataclass(frozen=True)
class SuppressionPolicy:
    """Every DPIA-relevant knob of disclosure control, validated on construction.

    minimum_cell_size
        Default threshold: a cell whose denominator ``d`` satisfies ``0 < d < threshold`` is
        primary suppressed. Never below 10 (``ValueError``). A municipality may only raise its
        own threshold (see :func:`cell_threshold`).
    small_count
        Band rule for published cells (``s``, default 3). A published cell whose numerator
        ``n < s`` shows a *low* band instead of its numerator and share ("< 3"), and one whose
        complement ``d - n < s`` shows a *high* band ("all but fewer than 3"). ``0`` switches
        bands off. With ``protect_bands`` the release check also verifies that no such
        numerator can be recomputed by subtraction (see ``numerator_protection``).
    rounding_base
        ``0``: shown counts are exact. Otherwise shown counts are rounded half-up to the nearest
        multiple. Rounding is presentation only: the release check assumes the reader knows the
        exact value of every published count, so protection never relies on it.
    protection_interval
        Required width of the feasible interval ``[min, max]`` of the denominator of every
        primary suppressed cell, over everything published (sums, other periods, the region, other
        breakdowns). ``None`` (default) means "the threshold that applies to that cell": nobody
        can narrow a suppressed count down to less than a threshold's width.
    numerator_protection
        Required width of the feasible interval of a numerator for a reader who knows *all*
        denominators (a municipality does, from its own administration): for a primary cell
        ``min(numerator_protection, d)``, for a cell whose numerator or complement is small
        (a band cell, published or withheld) ``min(numerator_protection, small_count - 1)``.
        Default 1: no such numerator can be pinned to a single value by subtraction (so
        nobody can establish that all or none of a small group had the outcome). Raise it to
        demand more than one unit of doubt.
    share_from_rounded_counts
        ``False`` (default): a published share is computed from the true counts (one decimal).
        ``True``: from the rounded counts shown beside it, so that the share reveals no more than
        the rounded counts (at the cost of accuracy). See the package docstring.
    protect_bands
        ``True`` (default): the release check also requires that the numerator of every cell
        with a small numerator or complement (published with a band, or withheld) cannot be
        pinned to one value by a reader who knows all denominators, and withholds more cells
        until it cannot. ``False``: bands are presentation only and may sometimes be undone by
        subtraction from exact neighbours (cheaper: fewer cells withheld).
    """

    minimum_cell_size: int = MINIMUM_CELL_SIZE_FLOOR
    small_count: int = 3
    rounding_base: int = 0
    protection_interval: int | None = None
    numerator_protection: int = 1
    share_from_rounded_counts: bool = False
    protect_bands: bool = True

    def __post_init__(self) -> None:
        for name in ("minimum_cell_size", "small_count", "rounding_base", "numerator_protection"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
        if self.minimum_cell_size < MINIMUM_CELL_SIZE_FLOOR:
            raise ValueError(
                f"minimum_cell_size must be at least {MINIMUM_CELL_SIZE_FLOOR}, got {self.minimum_cell_size}"
            )
        if self.small_count < 0:
            raise ValueError(f"small_count must be >= 0, got {self.small_count}")
        if self.small_count >= self.minimum_cell_size:
            raise ValueError("small_count must be below minimum_cell_size")
        if self.rounding_base < 0:
            raise ValueError(f"rounding_base must be >= 0, got {self.rounding_base}")
        if self.rounding_base > self.minimum_cell_size:
            raise ValueError("rounding_base must not exceed minimum_cell_size (a shown count would round to 0)")
        if self.protection_interval is not None and (
            not isinstance(self.protection_interval, int)
            or isinstance(self.protection_interval, bool)
            or self.protection_interval < 1
        ):
            raise ValueError(f"protection_interval must be None or an integer >= 1, got {self.protection_interval!r}")
        if self.numerator_protection < 1:
            raise ValueError(f"numerator_protection must be >= 1, got {self.numerator_protection}")

    def denominator_protection(self, threshold: int) -> int:
        """Required denominator interval width for a primary cell whose threshold is given."""
        return threshold if self.protection_interval is None else self.protection_interval


def validate_thresholds(policy: SuppressionPolicy, thresholds: Mapping[str, int]) -> None:
    """Refuse a municipality threshold below the policy's minimum (it may only be raised)."""
    for municipality, value in thresholds.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"threshold for {municipality} must be an integer, got {value!r}")
        if value < policy.minimum_cell_size:
            raise ValueError(
                f"threshold for {municipality} is {value}, below the minimum cell size "
                f"{policy.minimum_cell_size}; a municipality may only raise its threshold"
            )


def cell_threshold(policy: SuppressionPolicy, thresholds: Mapping[str, int], municipalities: Iterable[str]) -> int:
    """The threshold for a cell that aggregates the given municipalities: the strictest one.

    A region cell adds up its members, so every member's threshold must hold for it; the same
    rule gives a provider's total over several municipalities the strictest of theirs.
    """
    return max([policy.minimum_cell_size, *(thresholds.get(m, policy.minimum_cell_size) for m in municipalities)])
