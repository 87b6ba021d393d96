"""Releases: the figures a family publishes, made on the calendar, stored, signed, immutable.

A release holds, for one family (see :mod:`app.reports.families`), one year and one framework,
every cell of the periods it publishes exactly as any party will see it. Reports are cut from
the current (latest) release only, so the same question gets the same bytes from any worker and
after any restart. Releases are made by :func:`publish_due` (the scheduled job, exactly once
across processes through a database lease) or ``ttp releases publish``; never on a request.

Protection over time
--------------------
A party pulls every release. The difference between two releases is itself a table: when one
child's record arrives late, the municipality (which knows whose trajectory ended) would read
that child's outcome off the difference. So a release is composed, not just read:

- quarters the calendar freezes at this slot repeat the previous release's counts;
- a quarter newly published brings all of its counts (nothing was shown of it before);
- a revisable quarter brings its changes *only* where every cell that was visible in the
  previous release and is visible now changes by nobody or by at least its threshold of people
  (a lower bound on the people behind a change: per base cell, the larger of the values
  added and the values taken away). Changes in a cell that would move by fewer wait for a later
  release, whole base cells at a time, so every published total still adds up. They are never
  lost: the store keeps them, and the release figures count them as held back.
- a cell withheld in the previous release whose counts did not change stays withheld, so a
  changed pattern cannot combine with the earlier one to pin unchanged counts.

Then the composed counts get the same disclosure control as any snapshot (primary, secondary,
release check). The DPIA annex states the guarantee.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import multiprocessing
import os
import secrets
import threading
import time
import zlib
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import aggregate_store
from app.audit import log as audit_log
from app.crypto.keyring import Keyring
from app.models import ReleaseRecord, ReportCell
from app.privacy.configuration import PrivacyConfiguration
from app.records.codelists import CodeLists
from app.reports.calendar import Calendar
from app.reports.disclosure import TOTAL, CellKey
from app.reports.families import Family, area_family, provider_family
from app.reports.family_protection import (
    FamilyStore,
    ProtectedGroup,
    Release,
    indicator_groups,
    protect_family,
    read_family_store,
)
from app.reports.periods import Period
from app.reports.registry import Indicator, Registry
from app.reports.statistics import wilson

log = logging.getLogger("ttp.releases")
FRAMEWORKS = ("jeugdhulp", "jeugdbescherming", "jeugdreclassering")
SIGNED_PREFIX = b"outcome-ttp release v1\n"


# ---- cell keys as text ----------------------------------------------------------------------------
def key_text(key: CellKey) -> str:
    return "\t".join((key.unit, key.period, key.dimension, key.category))


def key_of(text: str) -> CellKey:
    unit, period, dimension, category = text.split("\t")
    return CellKey(unit, period, dimension, category)


def _pack(document: Any) -> bytes:
    return zlib.compress(json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8"), 6)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob).decode("utf-8"))


def _base_document(store: Mapping[tuple[str, ...], Counter[str]]) -> list[Any]:
    return [[list(key), dict(sorted(values.items()))] for key, values in sorted(store.items()) if +values]


def _base_of(document: list[Any]) -> FamilyStore:
    return {tuple(key): Counter(values) for key, values in document}


# ---- composing a release over time --------------------------------------------------------------
@dataclass
class Composition:
    """The counts a release is cut from, and what waits for a later one."""

    store: FamilyStore
    held_back_cells: int = 0  # base cells whose change waits
    held_back_people: int = 0  # at least this many people's changes wait
    released_cells: int = 0


def _position(key: tuple[str, ...]) -> tuple[str, ...]:
    return key[:-1]  # (unit, quarter, *dimension values) without the stored indicator


def _change_people(before: Counter[str], after: Counter[str]) -> int:
    """At least this many people changed: each moves one count in or out of a value."""
    diff = Counter(after)
    diff.subtract(before)
    return max(sum(n for n in diff.values() if n > 0), -sum(n for n in diff.values() if n < 0))


def containing_cells(family: Family, position: tuple[str, ...], periods: Iterable[str]) -> list[CellKey]:
    """Every published cell a base cell counts in, for the given periods."""
    unit, quarter, *dims = position
    year, q = quarter.split("-Q")
    own = {quarter, f"{year}-H{1 if int(q) <= 2 else 2}", year}
    wanted = [p for p in periods if p in own]
    units = [unit] + [slug for slug, members in family.regions.items() if unit in members]
    out = []
    for u in units:
        for period in wanted:
            out.append(CellKey(u, period))
            out.extend(CellKey(u, period, d, c) for d, c in zip(family.dimensions, dims, strict=True))
    return out


def cell_threshold(family: Family, key: CellKey, configuration: PrivacyConfiguration,
                   municipalities: Iterable[str]) -> int:
    """The threshold that applies to a cell (the strictest of the municipalities it covers)."""
    if family.kind == "provider":
        if key.dimension == "municipality":
            return configuration.threshold_for(key.category)
        return max([configuration.threshold_for(m) for m in municipalities] or
                   [configuration.disclosure.minimum_cell_size])
    members = family.regions.get(key.unit, (key.unit,))
    return max(configuration.threshold_for(m) for m in members)


def compose(previous: FamilyStore | None, previous_periods: Iterable[str], current: FamilyStore, *,
            family: Family, year: int, slot: date, calendar: Calendar, configuration: PrivacyConfiguration,
            over_time: bool = True) -> Composition:
    """The counts of a release at ``slot``: frozen quarters from ``previous``, new quarters from
    ``current``, and from revisable quarters only the changes no visible cell could single out.

    ``over_time=False`` takes every change (the protection over time switched off: for tests
    that show what it guards against)."""
    due = calendar.due(year, slot)
    due_quarters = {p for p in due if "-Q" in p}
    seen = set(previous_periods)
    visible_in_both = [p for p in due if p in seen]
    previous = previous or {}
    by_position: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for key in set(previous) | set(current):
        if key[1] in due_quarters:
            by_position[_position(key)].append(key)

    chosen: dict[tuple[str, ...], str] = {}  # position -> "previous" | "current"
    changed: dict[tuple[str, ...], int] = {}
    for position, keys in by_position.items():
        quarter = position[1]
        if quarter not in seen:
            chosen[position] = "current"  # first published now
        elif not calendar.may_change(Period.parse(quarter), slot):
            chosen[position] = "previous"
        else:
            people = max(_change_people(previous.get(k, Counter()), current.get(k, Counter())) for k in keys)
            if people:
                changed[position] = people
            chosen[position] = "current"

    composition = Composition(store={})
    if over_time and changed and visible_in_both:
        municipalities = sorted({p[2 + family.dimensions.index("municipality")] for p in by_position}
                                if family.kind == "provider" else family.municipalities)
        thresholds: dict[CellKey, int] = {}
        released = set(changed)
        while True:
            moved: Counter[CellKey] = Counter()
            members: dict[CellKey, list[tuple[str, ...]]] = defaultdict(list)
            for position in released:
                for cell in containing_cells(family, position, visible_in_both):
                    moved[cell] += changed[position]
                    members[cell].append(position)
            bad = []
            for cell, people in moved.items():
                if cell not in thresholds:
                    thresholds[cell] = cell_threshold(family, cell, configuration, municipalities)
                if 0 < people < thresholds[cell]:
                    bad.append(cell)
            if not bad:
                break
            for cell in bad:
                released.difference_update(members[cell])
        for position in set(changed) - released:
            chosen[position] = "previous"
            composition.held_back_cells += 1
            composition.held_back_people += changed[position]
        composition.released_cells = len(released)
    else:
        composition.released_cells = len(changed)

    for position, keys in by_position.items():
        source = previous if chosen[position] == "previous" else current
        for key in keys:
            if +source.get(key, Counter()):
                composition.store[key] = Counter(source[key])
    return composition


def unchanged_withheld(previous_content: Mapping[str, Any] | None, previous: FamilyStore | None,
                       composed: FamilyStore, family: Family, periods: Iterable[str]) -> dict[str, set[CellKey]]:
    """Cells the previous release withheld whose counts did not change: withheld again."""
    if not previous_content:
        return {}
    periods = list(periods)
    changed_cells: set[CellKey] = set()
    for key in set(previous or {}) | set(composed):
        if (previous or {}).get(key, Counter()) != composed.get(key, Counter()):
            changed_cells.update(containing_cells(family, _position(key), periods))
    out: dict[str, set[CellKey]] = {}
    for indicator, cells in previous_content["cells"].items():
        out[indicator] = {key for text, cell in cells.items() if cell["suppressed"]
                          for key in [key_of(text)] if key not in changed_cells}
    for text in previous_content.get("population_withheld", ()):
        key = key_of(text)
        if key not in changed_cells:
            out.setdefault("population", set()).add(key)
    return out


# ---- what a published cell shows ----------------------------------------------------------------
SUPPRESSED_REASON = "below the minimum cell size, or would let such a cell be derived"


def _shown_cell(indicator: Indicator, cell: Any, protected: ProtectedGroup, key: CellKey,
                configuration: PrivacyConfiguration) -> dict[str, Any]:
    """Every field a published cell shows. Where counts are rounded, each value is computed
    from the shown (rounded) counts or coarsened, so no figure gives the exact counts back."""
    cutoff = configuration.indicators.satisfaction_cutoff
    rounding = configuration.disclosure.rounding_base
    out: dict[str, Any] = {"suppressed": False, "threshold": cell.threshold, "denominator": cell.denominator}
    figures = indicator.figures(protected.values.get(key, Counter()), cutoff=cutoff)
    if cell.band is not None:
        out["band"] = cell.band.share_label if indicator.kind == "share" else None
    elif indicator.kind == "share":
        out["numerator"] = cell.numerator
        out["value"] = cell.share  # from the shown counts when rounding (suppression_policy)
        interval = wilson(cell.numerator, cell.denominator) if cell.denominator else None
        if interval is not None:
            out["ci_low"], out["ci_high"] = round(100 * interval.low, 1), round(100 * interval.high, 1)
    else:
        digits = 1 if rounding else 2  # a mean mark with one decimal says nothing of the exact counts
        out["value"] = None if figures.value is None else round(figures.value, digits)
        out["ci_low"] = None if figures.ci_low is None else round(figures.ci_low, digits)
        out["ci_high"] = None if figures.ci_high is None else round(figures.ci_high, digits)
    if indicator.responses:
        out["responses"] = cell.denominator
        population = protected.population.cells.get(key) if protected.population else None
        if population is not None and not population.suppressed and population.denominator and cell.denominator:
            out["response_rate"] = round(100 * cell.denominator / population.denominator, 1)
    return {k: v for k, v in out.items() if v is not None or k == "denominator"}


def _completeness(protected: ProtectedGroup, cell: Any, key: CellKey) -> float | None:
    """Share of ended trajectories whose linkage has settled (the rest wait for their window)."""
    if cell.suppressed:
        return None
    values = protected.values.get(key, Counter())
    pending = values.get("pending", 0)
    settled = sum(n for v, n in values.items() if v != "pending")
    if settled + pending == 0:
        return None
    return round(100 * settled / (settled + pending))


def render(release: Release, *, registry: Registry, framework: str, periods: Iterable[str],
           configuration: PrivacyConfiguration) -> dict[str, Any]:
    """The content of a release: every cell of its periods as any party will see it."""
    wanted = set(periods)
    cells: dict[str, dict[str, Any]] = {}
    completeness: dict[str, dict[str, Any]] = {}
    population_withheld: set[str] = set()
    for group in indicator_groups(registry, framework):
        protected = release.groups[tuple(i.id for i in group)]
        if protected.population is not None:
            population_withheld |= {key_text(k) for k, c in protected.population.cells.items()
                                    if c.suppressed and k.period in wanted}
        for indicator in group:
            tables = protected.tables.get(indicator.id)
            if tables is None:
                continue
            shown: dict[str, Any] = {}
            for key, cell in tables.cells.items():
                if key.period not in wanted:
                    continue
                if cell.suppressed:
                    shown[key_text(key)] = {"suppressed": True, "threshold": cell.threshold}
                else:
                    shown[key_text(key)] = _shown_cell(indicator, cell, protected, key, configuration)
                if indicator.source in ("3.2", "jbjr.repeat") and key.dimension == TOTAL:
                    completeness.setdefault(indicator.id, {})[f"{key.unit}\t{key.period}"] = _completeness(
                        protected, cell, key)
            cells[indicator.id] = shown
    return {"cells": cells, "completeness": completeness, "population_withheld": sorted(population_withheld)}


def figures_of(release: Release, composition: Composition, periods: Iterable[str]) -> dict[str, Any]:
    """What the register says of a release: per indicator how many cells were withheld and why."""
    wanted = set(periods)
    per_indicator: dict[str, Any] = {}
    for group in release.groups.values():
        for indicator_id, tables in group.tables.items():
            in_periods = [k for k in tables.cells if k.period in wanted]
            per_indicator[indicator_id] = {
                "cells": len(in_periods),
                "withheld": sum(1 for k in in_periods if tables.cells[k].suppressed),
                "below_threshold": sum(1 for k in in_periods if k in tables.primary),
                "to_protect_others": sum(1 for k in in_periods if k in tables.secondary),
            }
    return {"indicators": dict(sorted(per_indicator.items())),
            "changes_held_back": {"base_cells": composition.held_back_cells,
                                  "people_at_least": composition.held_back_people},
            "changes_released": {"base_cells": composition.released_cells}}


# ---- the stored release -------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedRelease:
    """A stored release as reports read it (immutable, so it is cached per id)."""

    release_id: str
    family: str
    year: int
    framework: str
    sequence: int
    slot: date
    periods: tuple[str, ...]
    as_of: datetime
    published_at: datetime
    content_sha256: str
    content: Mapping[str, Any] = field(repr=False)


def signed_payload(row: ReleaseRecord) -> bytes:
    return SIGNED_PREFIX + "\n".join((
        row.release_id, row.family, str(row.year), row.framework, str(row.sequence), row.slot.isoformat(),
        row.periods, row.content_sha256, row.config_sha256)).encode("utf-8")


_cache: OrderedDict[str, PublishedRelease] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 128


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _loaded(session: Session, release_id: str) -> PublishedRelease:
    with _cache_lock:
        hit = _cache.get(release_id)
        if hit is not None:
            _cache.move_to_end(release_id)
            return hit
    row = session.execute(select(ReleaseRecord).where(ReleaseRecord.release_id == release_id)).scalar_one()
    published = PublishedRelease(
        release_id=row.release_id, family=row.family, year=row.year, framework=row.framework,
        sequence=row.sequence, slot=row.slot, periods=tuple(json.loads(row.periods)), as_of=_utc(row.as_of),
        published_at=_utc(row.published_at), content_sha256=row.content_sha256, content=_unpack(row.content))
    with _cache_lock:
        _cache[release_id] = published
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return published


def current(session: Session, family: str, year: int, framework: str) -> PublishedRelease | None:
    """The family's current release for a year and framework (the latest), or None."""
    release_id = session.execute(
        select(ReleaseRecord.release_id)
        .where(ReleaseRecord.family == family, ReleaseRecord.year == year, ReleaseRecord.framework == framework)
        .order_by(ReleaseRecord.sequence.desc()).limit(1)
    ).scalar_one_or_none()
    return None if release_id is None else _loaded(session, release_id)


def _previous_row(session: Session, family: str, year: int, framework: str) -> ReleaseRecord | None:
    return session.execute(
        select(ReleaseRecord)
        .where(ReleaseRecord.family == family, ReleaseRecord.year == year, ReleaseRecord.framework == framework)
        .order_by(ReleaseRecord.sequence.desc()).limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class PublishedBase:
    """The counts the current release of a family was cut from (after composing over time)."""

    release_id: str
    published_at: datetime
    periods: tuple[str, ...]
    store: FamilyStore


def published_base(session: Session, family: str, year: int, framework: str) -> PublishedBase | None:
    """What the current release of ``family`` counted, per base cell; None before its first release."""
    row = _previous_row(session, family, year, framework)
    if row is None:
        return None
    return PublishedBase(row.release_id, _utc(row.published_at), tuple(json.loads(row.periods)),
                         _base_of(_unpack(row.base)))


@dataclass(frozen=True)
class Publisher:
    """What making a release needs from the running service."""

    registry: Registry
    configuration: PrivacyConfiguration
    config_sha256: str
    codelists: CodeLists
    keyring: Keyring
    ttp_id: str

    @property
    def calendar(self) -> Calendar:
        return Calendar.of(self.configuration.publication)


@dataclass(frozen=True)
class Prepared:
    family: str
    year: int
    framework: str
    slot: date
    periods: tuple[str, ...]
    figures: dict[str, Any]
    release_id: str | None  # None: nothing new to publish (or a dry run)
    seconds: float
    cpu: float = 0.0  # CPU seconds its protection took (in a worker process or here)


@dataclass
class _Job:
    """What protecting one family's release needs, read from the database (see :func:`_read`)."""

    family: Family
    year: int
    framework: str
    slot: date
    periods: tuple[str, ...]
    composition: Composition
    withheld: dict[str, set[CellKey]]
    generation: int
    as_of: datetime
    previous_sequence: int
    started: float
    cpu: float = 0.0  # seconds of CPU the protection took (wherever it ran)


def _read(session: Session, publisher: Publisher, family: Family, year: int, framework: str, slot: date, *,
          over_time: bool, now: datetime | None, started: float) -> _Job | Prepared:
    """Read and compose a family's release (a :class:`Prepared` when nothing changed)."""
    calendar = publisher.calendar
    periods = tuple(calendar.due(year, slot))
    previous_row = _previous_row(session, family.key, year, framework)
    previous_base = _base_of(_unpack(previous_row.base)) if previous_row else None
    previous_periods = json.loads(previous_row.periods) if previous_row else []
    previous_content = _loaded(session, previous_row.release_id).content if previous_row else None
    generation = aggregate_store.generation(session)
    as_of = (now or datetime.now(UTC)).replace(microsecond=0)
    current_store = read_family_store(session, family, year, framework, registry=publisher.registry)
    previous_sequence = previous_row.sequence if previous_row else 0
    # Everything needed is read: end the transaction before protecting (seconds to a minute for a
    # region). On SQLite every transaction holds the write lock, and ingestion must never wait on this.
    session.rollback()
    composition = compose(previous_base, previous_periods, current_store, family=family, year=year, slot=slot,
                          calendar=calendar, configuration=publisher.configuration, over_time=over_time)
    if previous_row is not None and tuple(previous_periods) == periods and previous_base == composition.store:
        return Prepared(family.key, year, framework, slot, periods, {"unchanged": True}, None,
                        time.perf_counter() - started)
    withheld = unchanged_withheld(previous_content, previous_base, composition.store, family, previous_periods) \
        if over_time else {}
    return _Job(family, year, framework, slot, periods, composition, withheld, generation, as_of, previous_sequence,
                started)


def _protect(job: _Job, registry: Registry, configuration: PrivacyConfiguration,
             ) -> tuple[dict[str, Any], dict[str, Any], float]:
    """The pure part of a release: protect the composed counts, render the content, count the
    figures. Returns ``(content, figures, CPU seconds)``; runs in a worker process too."""
    cpu = time.process_time()
    release = protect_family(job.composition.store, job.family, job.year, job.framework, registry=registry,
                             configuration=configuration, generation=job.generation, as_of=job.as_of,
                             also_suppress=job.withheld)
    content = render(release, registry=registry, framework=job.framework, periods=job.periods,
                     configuration=configuration)
    figures = figures_of(release, job.composition, job.periods)
    return content, figures, time.process_time() - cpu


def _store(session: Session, publisher: Publisher, job: _Job, content: dict[str, Any],
           figures: dict[str, Any]) -> Prepared:
    """Keep, sign and audit a protected release (the caller commits)."""
    family, year, framework, slot, periods = job.family, job.year, job.framework, job.slot, job.periods
    packed = _pack(content)
    row = ReleaseRecord(
        release_id="rel-" + secrets.token_urlsafe(12), family=family.key, year=year, framework=framework,
        sequence=job.previous_sequence + 1, slot=slot, periods=json.dumps(list(periods)),
        generation=job.generation, as_of=job.as_of, published_at=datetime.now(UTC),
        config_sha256=publisher.config_sha256, figures=json.dumps(figures, sort_keys=True), content=packed,
        content_sha256=hashlib.sha256(packed).hexdigest(), base=_pack(_base_document(job.composition.store)),
        key_id="", signature=b"",
    )
    key_id, private_key = publisher.keyring.audit_signing_key()
    row.key_id = key_id
    row.signature = private_key.sign(signed_payload(row))
    session.add(row)
    session.flush()
    audit_log.append(session, audit_log.AuditEvent(
        action="release.publish", result="success", org_type="admin", org_id=publisher.ttp_id,
        source="scheduler", resource=row.release_id, purpose="outcome-monitoring",
        detail={"family": family.key, "year": year, "framework": framework, "sequence": row.sequence,
                "slot": slot.isoformat(), "periods": list(periods), "content_sha256": row.content_sha256,
                "config_sha256": publisher.config_sha256, "key_id": key_id,
                "withheld": sum(f["withheld"] for f in figures["indicators"].values()),
                "changes_held_back": job.composition.held_back_cells},
    ))
    for indicator_id, counts in figures["indicators"].items():
        log.info("release cells withheld", extra={"family": family.key, "year": year, "framework": framework,
                                                  "indicator": indicator_id, "disclosure": counts})
    return Prepared(family.key, year, framework, slot, periods, figures, row.release_id,
                    time.perf_counter() - job.started, job.cpu)


def prepare(session: Session, publisher: Publisher, family: Family, year: int, framework: str, slot: date, *,
            store: bool = True, over_time: bool = True, now: datetime | None = None) -> Prepared:
    """Make (and with ``store`` keep, sign and audit) the family's release for ``slot``."""
    started = time.perf_counter()
    job = _read(session, publisher, family, year, framework, slot, over_time=over_time, now=now, started=started)
    if isinstance(job, Prepared):
        return job
    content, figures, job.cpu = _protect(job, publisher.registry, publisher.configuration)
    if not store:
        return Prepared(family.key, year, framework, slot, job.periods, figures, None,
                        time.perf_counter() - started, job.cpu)
    return _store(session, publisher, job, content, figures)


# ---- the whole publication ------------------------------------------------------------------------
def families_with_data(session: Session, codelists: CodeLists, configuration: PrivacyConfiguration,
                       ) -> list[tuple[Family, int, str]]:
    """Every (family, year, framework) the store has counts for: the most recent years first
    (what people ask for first is published first), within a year the largest families first."""
    period_year = func.substr(ReportCell.period, 1, 4).label("period_year")
    rows = session.execute(
        select(ReportCell.municipality, ReportCell.provider_id, ReportCell.framework, period_year, func.count())
        .group_by(ReportCell.municipality, ReportCell.provider_id, ReportCell.framework, period_year)
    ).all()
    out: dict[tuple[str, int, str], Family] = {}
    size: Counter[tuple[str, int, str]] = Counter()  # store rows: a proxy for the work of protecting it
    for municipality, provider, framework, year, count in rows:
        frameworks = [framework] if framework in FRAMEWORKS else []
        for fw in frameworks:
            area = area_family(municipality, codelists, configuration)
            out.setdefault((area.key, int(year), fw), area)
            size[(area.key, int(year), fw)] += count
            mirror = provider_family(provider)
            out.setdefault((mirror.key, int(year), fw), mirror)
            size[(mirror.key, int(year), fw)] += count
    # largest first: the worker pool must not end with one long family while the others idle
    ordered = sorted(out, key=lambda k: (-k[1], -size[k], k))
    return [(out[k], k[1], k[2]) for k in ordered]


#: Fewer families than this are prepared in this process (starting workers costs a second or two).
PARALLEL_FROM = 8


def default_workers() -> int:
    """Processes that protect families at once: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _worker_init(parent: int) -> None:
    # a worker's log lines would bypass the service's JSON formatter (and its allow-list) on
    # stderr: the parent logs what a release withheld when it stores it
    logging.disable(logging.CRITICAL)
    # A service killed (SIGKILL, OOM) in the middle of a publication cannot shut its pool down,
    # and a worker would go on protecting a family nobody will store, for minutes, beside the
    # restarted service: each worker ends itself once its parent is gone. The parent's pid comes
    # from the parent: a worker still importing when the service was killed would otherwise take
    # its new parent (init) for the service.
    threading.Thread(target=_end_with_parent, args=(parent,), name="end-with-parent",
                     daemon=True).start()


def _end_with_parent(parent: int, every: float = 0.5) -> None:
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(0)


def publish_due(sessions: Any, publisher: Publisher, *, on: date | None = None, store: bool = True,
                over_time: bool = True, workers: int | None = None,
                progress: Callable[[Prepared], None] | None = None) -> list[Prepared]:
    """Make every family's release due at the latest slot on or before ``on`` (today).

    Families are read and composed here in the order of :func:`families_with_data` (largest first)
    and stored here as their protection ends, one transaction each; protecting them
    (the pure, CPU-bound part) runs in ``workers`` processes (default :func:`default_workers`; 1:
    all in this process). ``progress`` is called with each family's result as it is made (an
    exception from it stops the publication: what was stored stays)."""
    today = on or datetime.now(UTC).date()
    calendar = publisher.calendar
    slot = calendar.latest_slot(today)
    with sessions() as session:
        targets = [(family, year, framework) for family, year, framework in
                   families_with_data(session, publisher.codelists, publisher.configuration)
                   if calendar.due(year, slot)]
    workers = default_workers() if workers is None else max(1, workers)
    made: list[Prepared] = []

    def done(prepared: Prepared) -> None:
        made.append(prepared)
        if progress is not None:
            progress(prepared)

    def read(family: Family, year: int, framework: str) -> _Job | Prepared | None:
        started = time.perf_counter()
        with sessions() as session:
            latest = _previous_row(session, family.key, year, framework)
            if latest is not None and latest.slot >= slot:
                return None
            return _read(session, publisher, family, year, framework, slot, over_time=over_time, now=None,
                         started=started)

    def keep(job: _Job, content: dict[str, Any], figures: dict[str, Any]) -> None:
        if not store:
            done(Prepared(job.family.key, job.year, job.framework, slot, job.periods, figures, None,
                          time.perf_counter() - job.started, job.cpu))
            return
        with sessions() as session:
            try:
                prepared = _store(session, publisher, job, content, figures)
                session.commit()
            except IntegrityError:
                session.rollback()  # another process made this release first
                return
        done(prepared)

    if workers == 1 or len(targets) < PARALLEL_FROM:
        for family, year, framework in targets:
            job = read(family, year, framework)
            if job is None:
                continue
            if isinstance(job, Prepared):
                done(job)
                continue
            content, figures, job.cpu = _protect(job, publisher.registry, publisher.configuration)
            keep(job, content, figures)
        return made

    # a pipeline: this process reads the next families while the workers protect, and stores
    # each release as soon as it comes back (a long family does not hold up the short ones
    # behind it); at most two per worker wait, so memory stays bounded
    pending: dict[Future[tuple[dict[str, Any], dict[str, Any], float]], _Job] = {}

    def keep_finished(block: bool) -> None:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED) if block else (
            [f for f in pending if f.done()], None)
        for future in sorted(finished, key=lambda f: pending[f].started):  # in the order read
            job = pending.pop(future)
            content, figures, job.cpu = future.result()
            keep(job, content, figures)

    context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                             initargs=(os.getpid(),)) as pool:
        try:
            for family, year, framework in targets:
                while len(pending) >= 2 * workers:
                    keep_finished(block=True)
                job = read(family, year, framework)
                if job is None:
                    continue
                if isinstance(job, Prepared):
                    done(job)
                    continue
                pending[pool.submit(_protect, job, publisher.registry, publisher.configuration)] = job
                keep_finished(block=False)
            while pending:
                keep_finished(block=True)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return made


def signature_ok(row: ReleaseRecord, keyring: Keyring) -> bool:
    """Whether a stored release's signature and content hash hold."""
    if hashlib.sha256(row.content).hexdigest() != row.content_sha256:
        return False
    try:
        keyring.audit_signing_key(row.key_id)[1].public_key().verify(row.signature, signed_payload(row))
    except Exception:  # any failure to verify is a bad signature
        return False
    return True


def register(session: Session, *, release_id: str | None = None) -> list[dict[str, Any]]:
    """The publication register: every release (or one), newest first, with whether it is current."""
    query = select(ReleaseRecord.release_id, ReleaseRecord.family, ReleaseRecord.year, ReleaseRecord.framework,
                   ReleaseRecord.sequence, ReleaseRecord.slot, ReleaseRecord.periods, ReleaseRecord.as_of,
                   ReleaseRecord.published_at, ReleaseRecord.config_sha256, ReleaseRecord.figures,
                   ReleaseRecord.content_sha256, ReleaseRecord.key_id, ReleaseRecord.signature)
    if release_id is not None:
        query = query.where(ReleaseRecord.release_id == release_id)
    rows = session.execute(query.order_by(ReleaseRecord.published_at.desc(), ReleaseRecord.id.desc())).all()
    latest = {f"{family}|{year}|{framework}": sequence for family, year, framework, sequence in session.execute(
        select(ReleaseRecord.family, ReleaseRecord.year, ReleaseRecord.framework, func.max(ReleaseRecord.sequence))
        .group_by(ReleaseRecord.family, ReleaseRecord.year, ReleaseRecord.framework)).all()}
    return [{
        "id": row.release_id, "family": row.family, "year": row.year, "framework": row.framework,
        "sequence": row.sequence, "slot": row.slot, "periods": json.loads(row.periods), "as_of": _utc(row.as_of),
        "published_at": _utc(row.published_at), "config_sha256": row.config_sha256,
        "figures": json.loads(row.figures), "content_sha256": row.content_sha256, "key_id": row.key_id,
        "signature": base64.b64encode(row.signature).decode("ascii"),
        "current": latest.get(f"{row.family}|{row.year}|{row.framework}") == row.sequence,
    } for row in rows]


@dataclass(frozen=True)
class ReleaseVerification:
    releases: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.problems:
            return f"releases broken: {self.problems[0]}" + (
                f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else "")
        return f"releases intact: {self.releases} releases, each hash and signature matches its audit entry"


#: What :func:`release_checks` says of one release.
RELEASE_OK, RELEASE_CHANGED, RELEASE_NOT_AUDITED = "ok", "changed", "not_audited"


def release_checks(session: Session, keyring: Keyring) -> dict[str, str]:
    """Every stored release's check, by release id: ``ok``; ``changed`` (its content hash or
    signature does not hold); ``not_audited`` (its content hash is not the one its audit entry
    recorded). In the order the releases were stored."""
    from app.models import AuditEntry

    audited_hash: dict[str, str] = {}
    for resource, detail in session.execute(
        select(AuditEntry.resource, AuditEntry.detail).where(AuditEntry.action == "release.publish")
    ):
        if resource and isinstance(detail, dict):
            audited_hash[resource] = str(detail.get("content_sha256"))
    checks: dict[str, str] = {}
    for row in session.execute(select(ReleaseRecord).order_by(ReleaseRecord.id)).scalars():
        if not signature_ok(row, keyring):
            checks[row.release_id] = RELEASE_CHANGED
        elif audited_hash.get(row.release_id) != row.content_sha256:
            checks[row.release_id] = RELEASE_NOT_AUDITED
        else:
            checks[row.release_id] = RELEASE_OK
    return checks


def verify_releases(session: Session, keyring: Keyring) -> ReleaseVerification:
    """Every stored release: its content hash, its signature, and the hash its audit entry recorded
    (the audit log itself is verified by :func:`app.audit.verification.verify_log`)."""
    reasons = {RELEASE_CHANGED: "content or signature does not match (changed since)",
               RELEASE_NOT_AUDITED: "its content hash is not the one the audit log recorded"}
    checks = release_checks(session, keyring)
    problems = [f"release {release_id}: {reasons[check]}" for release_id, check in checks.items()
                if check != RELEASE_OK]
    return ReleaseVerification(len(checks), tuple(problems))
