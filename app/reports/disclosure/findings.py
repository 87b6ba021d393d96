"""What the release check reports: reader models, the quantities it examines, and its findings."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

#: ``outsider`` knows every published count; ``knows_denominators`` also every denominator (see
#: :mod:`.check` for what each is assumed to know and what is required for each)
Reader = Literal["outsider", "knows_denominators"]
Quantity = Literal["denominator", "numerator"]


@dataclass(frozen=True)
class Finding:
    """The feasible integer interval of one withheld quantity and what was required of it.

    ``upper is None`` means unbounded. ``exact`` is False when the interval is only a witnessed
    part of the feasible interval (enough to show the requirement holds).
    """

    cell: Hashable
    reason: Literal["primary", "band"]
    quantity: Quantity
    reader: Reader
    lower: int
    upper: int | None
    required: int
    exact: bool

    @property
    def width(self) -> int | None:
        return None if self.upper is None else self.upper - self.lower

    @property
    def passed(self) -> bool:
        return self.upper is None or self.upper - self.lower >= self.required


@dataclass(frozen=True)
class ReleaseCheck:
    """Outcome of a release check. ``summary()`` is safe to log (no counts of cells)."""

    ok: bool
    findings: tuple[Finding, ...]
    failures: tuple[Finding, ...]
    published_primary: tuple[Hashable, ...]
    components: int
    lp_solved: int
    seconds: float

    def summary(self) -> dict[str, int | float | bool]:
        return {
            "ok": self.ok,
            "checked": len(self.findings),
            "failures": len(self.failures),
            "published_primary": len(self.published_primary),
            "components": self.components,
            "lp_solved": self.lp_solved,
            "seconds": round(self.seconds, 3),
        }

