"""The publication calendar: when releases are made, what they publish, what may still change.

Pure date arithmetic over the privacy configuration's ``[publication]`` section:

- a *slot* is a calendar date a release is made for: every quarter's (or month's) end plus
  ``settle_days``;
- a period (quarter, half-year, year) is first published at the first slot on or after its end
  plus ``settle_days``;
- a quarter that was published before changes again only at the revision points the
  configuration allows (``next_release``: the first slot after its first publication;
  ``year_end``: the slot that first publishes its year). At any other slot it is *frozen*: the
  release repeats what was published, and changes wait.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta

from app.privacy.configuration import Publication
from app.reports.periods import Period


def _month_end(year: int, month: int) -> date:
    return date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)


def period_end(period: Period) -> date:
    last_quarter = max(int(q[-1]) for q in period.quarters)
    return _month_end(period.year, 3 * last_quarter)


def periods_of(year: int) -> list[Period]:
    return [Period.parse(p) for p in (
        *(f"{year}-Q{q}" for q in range(1, 5)), f"{year}-H1", f"{year}-H2", str(year))]


@dataclass(frozen=True)
class Calendar:
    cadence: str
    settle_days: int
    revisions: tuple[str, ...]

    @classmethod
    def of(cls, publication: Publication) -> Calendar:
        return cls(publication.cadence, publication.settle_days, tuple(publication.revisions))

    # ---- slots --------------------------------------------------------------------------------
    def _step(self) -> int:
        return 3 if self.cadence == "quarterly" else 1

    def _slot_of(self, year: int, month: int) -> date:
        return _month_end(year, month) + timedelta(days=self.settle_days)

    def slots_between(self, start: date, end: date) -> list[date]:
        """Every slot in ``[start, end]``."""
        out: list[date] = []
        year, month = start.year - 2, self._step()
        while True:
            slot = self._slot_of(year, month)
            if slot > end:
                return out
            if slot >= start:
                out.append(slot)
            month += self._step()
            if month > 12:
                year, month = year + 1, month - 12

    def latest_slot(self, on: date) -> date:
        """The most recent slot on or before ``on``."""
        return self.slots_between(on - timedelta(days=400), on)[-1]

    def next_slot(self, after: date) -> date:
        """The first slot after ``after``."""
        return self.slots_between(after + timedelta(days=1), after + timedelta(days=400))[0]

    # ---- periods ------------------------------------------------------------------------------
    def first_publication(self, period: Period) -> date:
        earliest = period_end(period) + timedelta(days=self.settle_days)
        return self.slots_between(earliest, earliest + timedelta(days=400))[0]

    def due(self, year: int, slot: date) -> list[str]:
        """The periods of ``year`` a release at ``slot`` publishes (in a fixed order)."""
        return [str(p) for p in periods_of(year) if self.first_publication(p) <= slot]

    def may_change(self, quarter: Period, slot: date) -> bool:
        """Whether a quarter published before ``slot`` may show new figures at ``slot``."""
        first = self.first_publication(quarter)
        if first >= slot:
            return True  # first published now (or not yet): nothing earlier to differ from
        if "next_release" in self.revisions and self.next_slot(first) == slot:
            return True
        return "year_end" in self.revisions and self.first_publication(Period.parse(str(quarter.year))) == slot

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - calendars are few and immutable; a batch's receipt asks per quarter
    def next_change(self, quarter: Period, today: date) -> date | None:
        """The first slot after ``today`` at which a quarter's figures may change (its first
        publication, or a revision point); None when it is final. A change too small to publish
        safely waits longer (see :mod:`app.reports.releases`)."""
        first = self.first_publication(quarter)
        if first > today:
            return first
        slot = self.next_slot(today)
        for _ in range(16):
            if self.may_change(quarter, slot):
                return slot
            slot = self.next_slot(slot)
        return None
