"""Reading one unit's report: which family it is cut from, the cut, and the stories beside it.

One implementation for the API (:mod:`app.reports.router`) and the pages
(:mod:`app.web.report_pages`): a municipality reads its own report (cut from its agreed
region's family, or its own), a member of an agreed region reads the region's, a provider reads
its mirror report. Who may read which unit is decided by the callers' auth dependencies; the
region rule itself lives in :func:`app.reports.families.region_family`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ReleaseRecord
from app.reports import notes as provider_notes
from app.reports import releases
from app.reports.calendar import period_end
from app.reports.cut import Report, cut
from app.reports.families import Family, area_family, provider_family, region_family
from app.reports.periods import Period

if TYPE_CHECKING:
    from app.runtime import Runtime


@dataclass(frozen=True)
class Unit:
    """What a report is about: a municipality, an agreed region or a provider."""

    kind: str  # "municipality" | "region" | "provider"
    id: str
    name: str
    family: Family
    municipalities: tuple[str, ...]  # whose stories show beside the figures
    providers: tuple[str, ...] | None = None  # only these providers' stories (None: every provider)

    def ref(self) -> dict[str, str]:
        return {"type": self.kind, "id": self.id, "name": self.name}


def municipality_unit(code: str, runtime: Runtime) -> Unit:
    family = area_family(code, runtime.codelists, runtime.privacy.configuration)
    return Unit("municipality", code, runtime.codelists.municipalities[code].name, family, (code,))


def region_unit(member: str, region_id: str, runtime: Runtime) -> Unit | None:
    """Region ``region_id`` as its member ``member`` reads it; None when it may not (not its
    region, or the region did not agree to regional reports)."""
    family = region_family(member, region_id, runtime.codelists, runtime.privacy.configuration)
    if family is None:
        return None
    name = runtime.codelists.region_of(member) or region_id
    return Unit("region", region_id, name, family, tuple(family.regions[region_id]))


def provider_unit(agb: str, runtime: Runtime) -> Unit:
    return Unit("provider", agb, agb, provider_family(agb), tuple(runtime.codelists.municipalities), (agb,))


def read(session: Session, runtime: Runtime, unit: Unit, *, period: Period, framework: str,
         by: str | None) -> Report:
    """The unit's report for ``period`` (one ``by`` breakdown), cut from its family's current
    release; raises :class:`app.reports.cut.NotYetPublished` and :class:`app.reports.cut.PastRetention`."""
    members = list(unit.municipalities) if unit.kind == "region" and by == "municipality" else None
    return cut(session, registry=runtime.publisher.registry, calendar=runtime.publisher.calendar,
               records_months=runtime.privacy.configuration.retention.records_months,
               family=unit.family, unit=unit.id, period=period, framework=framework, by=by,
               categories_from=members)


def stories(session: Session, unit: Unit, period: Period) -> list[provider_notes.Note]:
    """The providers' stories that show beside the unit's figures for ``period``."""
    return provider_notes.overlapping(session, municipalities=unit.municipalities, period=period,
                                      providers=unit.providers)


def published_periods(session: Session, unit: Unit, framework: str) -> list[Period]:
    """Every period the unit's family's current releases publish for ``framework``, oldest first
    (a year after its quarters and half-years)."""
    years = session.execute(
        select(ReleaseRecord.year).where(ReleaseRecord.family == unit.family.key,
                                         ReleaseRecord.framework == framework).distinct()
    ).scalars().all()
    out: list[Period] = []
    for year in sorted(years):
        release = releases.current(session, unit.family.key, year, framework)
        if release is not None:
            out.extend(Period.parse(p) for p in release.periods)
    return sorted(out, key=chronological)


def chronological(period: Period) -> tuple[object, int]:
    """Order by end date, the longer period after the shorter ones ending with it."""
    return period_end(period), len(period.quarters)
