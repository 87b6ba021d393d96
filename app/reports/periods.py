"""Report periods: a year (2025), a half-year (2025-H1) or a quarter (2025-Q2).

The aggregate store counts per quarter of a trajectory's end; every report period is a set of
quarters, and quarters add up to half-years and years.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIOD_PATTERN = r"^(20[1-9]\d)(-H[12]|-Q[1-4])?$"  # 2010-2099: no record is dated before 2015
_PERIOD = re.compile(PERIOD_PATTERN)


@dataclass(frozen=True, order=True)
class Period:
    year: int
    kind: str  # "year" | "half" | "quarter"
    number: int  # 0 for a year, 1..2 for a half-year, 1..4 for a quarter

    @classmethod
    def parse(cls, text: str) -> Period:
        if not _PERIOD.fullmatch(text):
            raise ValueError("must be a year (2025), a half-year (2025-H1) or a quarter (2025-Q2)")
        year = int(text[:4])
        if len(text) == 4:
            return cls(year, "year", 0)
        number = int(text[-1])
        return cls(year, "half" if text[5] == "H" else "quarter", number)

    def __str__(self) -> str:
        if self.kind == "year":
            return str(self.year)
        return f"{self.year}-{'H' if self.kind == 'half' else 'Q'}{self.number}"

    @property
    def quarters(self) -> tuple[str, ...]:
        if self.kind == "quarter":
            numbers: tuple[int, ...] = (self.number,)
        elif self.kind == "half":
            numbers = (1, 2) if self.number == 1 else (3, 4)
        else:
            numbers = (1, 2, 3, 4)
        return tuple(f"{self.year}-Q{n}" for n in numbers)

