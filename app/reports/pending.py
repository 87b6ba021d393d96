"""What of a provider's own records the published figures do not show yet.

A provider's records reach a report only through a release (:mod:`app.reports.releases`): a
quarter is first published at its calendar date, and a later change (a late record, a correction,
a retraction, a withdrawn consent) waits when publishing it would single out fewer people than a
threshold. Nothing is lost: the store keeps it, and this view shows the provider what waits.

It compares, per municipality, quarter, framework and indicator, the provider's records in the
store now with what the current release of its own mirror family (``provider:<agb>``) counted.
Both sides are the provider's own records only; the linkage indicators (3.2 "geen nieuwe start",
herhaald beroep), which also depend on other providers' records, are left out, as in the batch
receipt. The comparison is per base cell (every breakdown at once), so a correction that moves a
record from one breakdown to another, or changes its outcome, counts as a change even where the
totals stay equal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from app.records.ingestion import LINKED_INDICATORS
from app.reports.families import PROVIDER_DIMENSIONS, provider_family
from app.reports.family_protection import read_family_store
from app.reports.periods import Period
from app.reports.releases import FRAMEWORKS, Publisher, published_base

#: The years looked at: this one and the two before (older quarters are final under any calendar
#: this service accepts, and their changes can no longer be published).
YEARS_BACK = 2
_MUNICIPALITY = 2 + PROVIDER_DIMENSIONS.index("municipality")  # in a store key: (unit, quarter, *dimensions, source)


@dataclass(frozen=True)
class PendingLine:
    """One municipality, quarter, framework and indicator whose published figures lag the store."""

    municipality: str
    quarter: str
    framework: str
    indicator: str
    records: int  # the provider's records counted in it now
    published_records: int | None  # what the current release counted; None: the quarter is not published yet
    changed_at_least: int  # at least this many of its records are new, changed or gone since that release
    release_id: str | None  # the current release of the provider's family (None before the first)
    published_from: date | None  # the next release that may show it; None: the quarter is final

    @property
    def status(self) -> str:
        if self.published_records is None:
            return "not_yet_published"
        return "waiting" if self.published_from else "final"


def _changed(before: Counter[str], after: Counter[str]) -> tuple[int, int]:
    diff = Counter(after)
    diff.subtract(before)
    return sum(n for n in diff.values() if n > 0), -sum(n for n in diff.values() if n < 0)


def pending_lines(session: Session, publisher: Publisher, provider_id: str, *, today: date,
                  years: Iterable[int] | None = None) -> list[PendingLine]:
    """Every line of the provider's own records that its current published figures do not show."""
    family = provider_family(provider_id)
    shown = {i.id for i in publisher.registry.indicators} - LINKED_INDICATORS
    calendar = publisher.calendar
    out: list[PendingLine] = []
    for year in years if years is not None else range(today.year - YEARS_BACK, today.year + 1):
        for framework in FRAMEWORKS:
            store = read_family_store(session, family, year, framework, registry=publisher.registry)
            if not store:
                continue
            published = published_base(session, family.key, year, framework)
            base = published.store if published else {}
            periods = set(published.periods) if published else set()
            # (municipality, quarter, indicator) -> [records now, records published, added, removed]
            lines: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
            for key in set(store) | set(base):
                indicator = key[-1]
                if indicator not in shown:
                    continue
                now, then = store.get(key, Counter()), base.get(key, Counter())
                line = lines[(key[_MUNICIPALITY], key[1], indicator)]
                line[0] += sum(now.values())
                line[1] += sum(then.values())
                added, removed = _changed(then, now)
                line[2] += added
                line[3] += removed
            for (municipality, quarter, indicator), (records, published_records, added, removed) in lines.items():
                first_shown = quarter in periods
                if first_shown and not (added or removed):
                    continue
                out.append(PendingLine(
                    municipality=municipality, quarter=quarter, framework=framework, indicator=indicator,
                    records=records, published_records=published_records if first_shown else None,
                    changed_at_least=max(added, removed) if first_shown else records,
                    release_id=published.release_id if published else None,
                    published_from=calendar.next_change(Period.parse(quarter), today)))
    return sorted(out, key=lambda p: (p.municipality, p.quarter, p.framework, p.indicator))
