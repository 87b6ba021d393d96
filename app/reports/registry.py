"""The indicator registry (``app/data/indicators-2025.toml``) and how a cell's figures follow
from the counts of its stored values."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.reports.statistics import mean_of_marks, wilson

DATA = Path(__file__).resolve().parent.parent / "data" / "indicators-2025.toml"
NO_RESPONSE = "no_response"
PENDING = "pending"
AT_OR_ABOVE_CUTOFF = "marks_at_or_above_cutoff"
FRAMEWORKS = {
    "jeugdhulp": ("jeugdhulp",),
    "jbjr": ("jeugdbescherming", "jeugdreclassering"),
    "jeugdbescherming": ("jeugdbescherming",),
    "jeugdreclassering": ("jeugdreclassering",),
}


@dataclass(frozen=True)
class Figures:
    """What a cell shows before disclosure control."""

    denominator: int
    numerator: int | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    responses: int | None
    response_rate: float | None
    pending: int


def _at_or_above(value: str, cutoff: int) -> bool:
    """Is this stored value a mark at or above the cut-off?"""
    return value.startswith("mark:") and int(value[5:]) >= cutoff


@dataclass(frozen=True)
class Indicator:
    id: str
    framework: str
    name_nl: str
    name_en: str
    source: str
    kind: str  # "share" | "mean_mark"
    base: tuple[str, ...] | None  # None: every value but no_response (and pending)
    numerator: tuple[str, ...] | str
    numerator_label: str
    denominator_label: str
    unit: str
    responses: bool

    @property
    def frameworks(self) -> tuple[str, ...]:
        return FRAMEWORKS[self.framework]

    def in_base(self, value: str) -> bool:
        if self.base is None:
            return value not in (NO_RESPONSE, PENDING)
        return value in self.base

    def in_numerator(self, value: str, cutoff: int) -> bool:
        if self.numerator == AT_OR_ABOVE_CUTOFF:
            return _at_or_above(value, cutoff)
        return value in self.numerator

    def protected_counts(self, counts: Mapping[str, int], *, cutoff: int) -> tuple[int, int]:
        """The pair disclosure control protects for one cell: the denominator, and the numerator
        (for a mean of marks: the marks at or above the cut-off). The same counts as
        :meth:`figures` gives, without its value and interval, which only published cells need."""
        denominator = numerator = 0
        mean = self.kind == "mean_mark"
        for value, n in counts.items():
            inside = self.in_base(value)
            if inside:
                denominator += n
            if mean:
                if _at_or_above(value, cutoff):
                    numerator += n
            elif inside and self.in_numerator(value, cutoff):
                numerator += n
        return denominator, numerator

    def figures(self, counts: Mapping[str, int], *, cutoff: int) -> Figures:
        """Figures from the counts of the source's stored values in one cell."""
        denominator = sum(n for v, n in counts.items() if self.in_base(v))
        everyone = sum(n for v, n in counts.items() if v != PENDING)
        pending = counts.get(PENDING, 0)
        responses = denominator if self.responses else None
        response_rate = round(100 * denominator / everyone, 1) if self.responses and everyone else None
        if self.kind == "mean_mark":
            marks = {int(v[5:]): n for v, n in counts.items() if v.startswith("mark:") and n}
            summary = mean_of_marks(marks)
            return Figures(
                denominator=denominator, numerator=None,
                value=round(summary.mean, 2) if summary else None,
                ci_low=round(summary.interval.low, 2) if summary and summary.interval else None,
                ci_high=round(summary.interval.high, 2) if summary and summary.interval else None,
                responses=responses, response_rate=response_rate, pending=pending,
            )
        numerator = sum(n for v, n in counts.items() if self.in_base(v) and self.in_numerator(v, cutoff))
        interval = wilson(numerator, denominator)
        return Figures(
            denominator=denominator, numerator=numerator,
            value=round(100 * numerator / denominator, 1) if denominator else None,
            ci_low=round(100 * interval.low, 1) if interval else None,
            ci_high=round(100 * interval.high, 1) if interval else None,
            responses=responses, response_rate=response_rate, pending=pending,
        )


@dataclass(frozen=True)
class Registry:
    version: str
    indicators: tuple[Indicator, ...]

    def get(self, indicator_id: str) -> Indicator | None:
        return next((i for i in self.indicators if i.id == indicator_id), None)

    def for_framework(self, framework: str) -> list[Indicator]:
        wanted = set(FRAMEWORKS[framework])
        return [i for i in self.indicators if set(i.frameworks) & wanted]


@lru_cache(maxsize=1)
def load_registry(path: Path = DATA) -> Registry:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    indicators = []
    for item in data["indicator"]:
        base = item["base"]
        numerator = item["numerator"]
        indicators.append(Indicator(
            id=item["id"], framework=item["framework"], name_nl=item["name_nl"], name_en=item["name_en"],
            source=item["source"], kind=item["kind"],
            base=None if base == "*" else tuple(base),
            numerator=numerator if isinstance(numerator, str) else tuple(numerator),
            numerator_label=item["numerator_label"], denominator_label=item["denominator_label"],
            unit=item["unit"], responses=bool(item.get("responses", False)),
        ))
    return Registry(version=data["version"], indicators=tuple(indicators))
