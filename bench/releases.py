"""The time to prepare a whole publication: every family's release at one calendar slot.

A publication is every municipality's, agreed region's and provider's release (per year and
framework) that one slot of the publication calendar makes: :func:`app.reports.releases.publish_due`
with ``store=True``, exactly what the scheduled job runs. Measured for two stores:

- **demo**: the synthetic demo population of :mod:`app.demo` (14 providers, five regions);
- **national**: a synthetic national-scale store: the 342 municipalities and 42 jeugdzorgregio's
  of the code lists, ``--records`` ended trajectories (default 1,000,000) in one year spread by
  municipality size, and about a thousand providers (a local team per municipality, regional
  providers active in a few municipalities of their region or all of it, supra-regional ones, and
  the certified institutions (GI), each region covered by one).

Each store is built directly through :func:`app.aggregate_store.replace_all` from the
:func:`app.records.contributions.contributions` of synthetic records (what ingestion writes; the
national store reuses a pool of demo records' outcomes, each moved to a national municipality,
provider of the same care profile and quarter). Then:

- **cold**: ``publish_due(on=<the slot publishing Q4 and the year>)`` on an empty releases table;
- **revision**: 1% new records (late records of the quarters still revisable at the next slot,
  added with :func:`app.aggregate_store.apply`: ingestion is not measured), then ``publish_due``
  at the next slot (composition over time, only changed families re-protected).

The privacy configuration is ``deploy/privacy.example.toml`` with ``reporting_agreed`` set to
every region the code lists know (``--agreed all``: every region protected as one family) or as
in the example (``--agreed example``: Friesland only, every other municipality on its own).

    .venv/bin/python bench/releases.py [--records 1000000] [--demo-records 5000] [--stores demo,national]
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import aggregate_store, db  # noqa: E402
from app.aggregate_store import StoreKey  # noqa: E402
from app.demo import MUNICIPALITY_POPULATION as DEMO_POPULATION  # noqa: E402
from app.demo import PROVIDER_PROFILES, generate  # noqa: E402
from app.records.codelists import load_codelists  # noqa: E402
from app.records.contributions import contributions  # noqa: E402
from app.records.schemas import RECORD_ADAPTER, validation_context  # noqa: E402
from app.reports import releases  # noqa: E402
from app.reports.periods import Period  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from app.settings import Settings  # noqa: E402
from pseudonymisation import generate_key  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YEAR = 2025  # the national store's year
COLD_ON = date(2026, 2, 14)  # the slot that first publishes 2025-Q4, 2025-H2 and 2025
DEMO_TODAY = date(2025, 12, 31)  # the demo population's "today": its records end in 2024 and 2025

# Rough inhabitants of the largest municipalities (the demo's regions come from app.demo); the
# others get a log-normal size around a typical Dutch municipality.
LARGE = {
    "GM0599": 670_000, "GM0518": 560_000, "GM0344": 370_000, "GM0772": 240_000, "GM0855": 225_000,
    "GM0034": 225_000, "GM0758": 185_000, "GM0268": 185_000, "GM0200": 167_000, "GM0202": 166_000,
    "GM0392": 165_000, "GM0394": 160_000, "GM0307": 160_000, "GM0479": 160_000, "GM0796": 158_000,
    "GM0193": 132_000, "GM0546": 127_000, "GM0637": 127_000, "GM0228": 122_000, "GM0505": 121_000,
    "GM0484": 115_000, "GM1783": 113_000, "GM0361": 110_000, "GM0114": 108_000, "GM0503": 105_000,
    "GM0983": 102_000, "GM0150": 101_000,
}
TEAM_PROFILES = ("98301050", "98301067")  # neighbourhood teams (hulpvorm 01/04)
NATIONAL_GI = "98302041"
REGIONAL_GI = ("98302010", "98302027", "98302034")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---- synthetic records ----------------------------------------------------------------------------
def demo_contributions(records: int, seed: int, today: date, runtime: Runtime) -> list[tuple[str, list[StoreKey]]]:
    """``(provider, cells)`` for each ended record of the demo population."""
    context = validation_context(today=today, rom_instruments=runtime.records.vault.rom_instruments)
    out: list[tuple[str, list[StoreKey]]] = []
    done, chunk = 0, 50_000
    while done < records:
        size = min(chunk, records - done)
        population = generate(size, seed=seed + done, provider_key=generate_key("v1"), today=today,
                              codelists=runtime.codelists)
        for demo in population.records:
            body = dict(demo.body, consent_id="bench", pseudonym="p1.v1.bench")
            record = RECORD_ADAPTER.validate_python(body, context=context)
            cells = contributions(demo.provider, record, config=runtime.records.indicator_config)
            if cells:
                out.append((demo.provider, cells))
        done += size
    return out


@dataclass
class Provider:
    agb: str
    profile: str  # the demo profile whose records it sends
    kind: str  # "jeugdhulp" | "gi"
    size: float
    municipalities: tuple[str, ...]


@dataclass
class Nation:
    population: dict[str, float]  # municipality -> weight
    providers: list[Provider]
    choices: dict[tuple[str, str], tuple[list[str], list[float]]] = field(default_factory=dict)  # (m, kind)


def nation(runtime: Runtime, seed: int) -> Nation:
    """342 municipalities with a size each, and about a thousand providers over them."""
    rng = random.Random(seed)
    codelists = runtime.codelists
    population: dict[str, float] = {}
    for code in sorted(codelists.municipalities):
        known = LARGE.get(code) or DEMO_POPULATION.get(code)
        population[code] = float(known or min(100_000, max(1_000, rng.lognormvariate(math.log(27_000), 0.6))))
    regions = {r: sorted(ms) for r, ms in sorted(codelists.regions.items())}
    total = sum(population.values())
    profiles = {p.agb: p for p in PROVIDER_PROFILES}
    care = {p.agb: p.size for p in PROVIDER_PROFILES if p.kind == "jeugdhulp" and p.agb not in TEAM_PROFILES}
    providers: list[Provider] = []
    numbers = iter(range(1, 10**6))

    def agb(kind: str) -> str:
        return f"{'97' if kind == 'jeugdhulp' else '96'}{next(numbers):06d}"

    def members(region: list[str], k: int) -> tuple[str, ...]:
        chosen: set[str] = set()
        while len(chosen) < min(k, len(region)):
            chosen.add(rng.choices(region, [population[m] for m in region])[0])
        return tuple(sorted(chosen))

    for region in regions.values():
        weight = sum(population[m] for m in region)
        # a local team in every municipality: a fifth of its jeugdhulp
        for m in region:
            providers.append(Provider(agb("jeugdhulp"), rng.choice(TEAM_PROFILES), "jeugdhulp", 0.2 * population[m],
                                      (m,)))
        # regional providers: a few big ones across the region, many small ones in a few municipalities
        count = max(8, round(600 * weight / total))
        sizes = [rng.paretovariate(1.3) for _ in range(count)]
        scale = 0.65 * weight / sum(sizes)
        for size in sizes:
            wide = rng.random() < min(0.9, 0.1 + size / 10)
            where = tuple(region) if wide else members(region, rng.choice((1, 1, 2, 2, 3, 4)))
            providers.append(Provider(agb("jeugdhulp"), rng.choices(list(care), list(care.values()))[0],
                                      "jeugdhulp", size * scale, where))
    names = list(regions)
    # supra-regional providers (foster care, mental health, crisis care): a few regions each
    for _ in range(40):
        chosen = rng.sample(names, rng.randint(2, 6))
        where = tuple(sorted(m for r in chosen for m in (regions[r] if rng.random() < 0.5 else
                                                          members(regions[r], 3))))
        weight = sum(population[m] for m in where)
        providers.append(Provider(agb("jeugdhulp"), rng.choice(("98301036", "98301043", "98301098")), "jeugdhulp",
                                  0.15 * weight / 8, where))
    # certified institutions: 13 regional ones (about three regions each) and two national ones
    shuffled = names[:]
    rng.shuffle(shuffled)
    for i in range(13):
        where = tuple(sorted(m for r in shuffled[i::13] for m in regions[r]))
        providers.append(Provider(agb("gi"), REGIONAL_GI[i % 3], "gi", 0.85 * sum(population[m] for m in where),
                                  where))
    everywhere = tuple(sorted(population))
    for _ in range(2):
        providers.append(Provider(agb("gi"), NATIONAL_GI, "gi", 0.075 * total, everywhere))
    assert all(p in profiles for p in {x.profile for x in providers})
    out = Nation(population, providers)
    spread: dict[tuple[str, str], tuple[list[str], list[float]]] = defaultdict(lambda: ([], []))
    for p in providers:
        covered = sum(population[m] for m in p.municipalities)
        for m in p.municipalities:
            agbs, weights = spread[(m, p.kind)]
            agbs.append(p.agb)
            weights.append(p.size * population[m] / covered)
    out.choices = dict(spread)
    return out


def national_cells(country: Nation, pool: dict[str, list[list[StoreKey]]], records: int, seed: int,
                   quarters: list[str]) -> Counter[StoreKey]:
    """``records`` ended trajectories over the country: a municipality by size, a provider there
    (jeugdhulp or a GI, as in the demo's mix), the outcomes of a pool record of the provider's
    care profile, and a quarter."""
    rng = random.Random(seed)
    profile_of = {p.agb: p.profile for p in country.providers}
    municipalities = sorted(country.population)
    where = Counter(rng.choices(municipalities, [country.population[m] for m in municipalities], k=records))
    cells: Counter[StoreKey] = Counter()
    for m, count in sorted(where.items()):
        gi = sum(1 for _ in range(count) if rng.random() < 0.15)
        for kind, n in (("jeugdhulp", count - gi), ("gi", gi)):
            agbs, weights = country.choices[(m, kind)]
            for provider in rng.choices(agbs, weights, k=n):
                sample = pool[profile_of[provider]]
                period = rng.choice(quarters)
                for key in sample[rng.randrange(len(sample))]:
                    cells[key._replace(municipality=m, provider_id=provider, period=period)] += 1
    return cells


# ---- the service ----------------------------------------------------------------------------------
def privacy_file(directory: Path, agreed: str, regions: list[str]) -> Path:
    text = (ROOT / "deploy" / "privacy.example.toml").read_text(encoding="utf-8")
    if agreed == "all":
        listed = ", ".join(f'"{r}"' for r in regions)
        text, n = re.subn(r"(?m)^reporting_agreed = \[.*\]$", f"reporting_agreed = [{listed}]", text)
        assert n == 1, "reporting_agreed not found in the example configuration"
    path = directory / "privacy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start(directory: Path, agreed: str) -> Runtime:
    codelists = load_codelists()
    settings = Settings(data_dir=directory, log_level="WARNING",
                        privacy_config=privacy_file(directory, agreed, sorted(codelists.regions)))
    db.upgrade(settings.resolved_database_url)
    return Runtime.start(settings)


class OutOfBudget(Exception):
    """The publication ran past ``--budget``: the remaining families are not prepared."""


@dataclass
class Timed:
    family: str
    year: int
    framework: str
    wall: float
    cpu: float
    made: bool


def publish(runtime: Runtime, on: date, budget: float, workers: int | None
            ) -> tuple[list[releases.Prepared], list[Timed], float, float, bool]:
    """``publish_due`` at ``on``, with wall and CPU time in total (this process and its worker
    processes) and per family (its protection's CPU, wherever it ran); stops after ``budget``
    seconds (the last value: whether every family was prepared)."""
    timed: list[Timed] = []
    made: list[releases.Prepared] = []
    begun = time.perf_counter()

    def progress(out: releases.Prepared) -> None:
        done = Timed(out.family, out.year, out.framework, out.seconds, out.cpu, out.release_id is not None)
        timed.append(done)
        made.append(out)
        if done.cpu >= 10 or len(timed) % 100 == 0:
            log(f"    {len(timed)} families prepared; {out.family} {out.year} {out.framework}: "
                f"{done.wall:.1f} s wall, {done.cpu:.1f} s CPU")
        if time.perf_counter() - begun > budget:
            raise OutOfBudget

    wall, cpu = time.perf_counter(), _cpu()
    complete = True
    try:
        releases.publish_due(runtime.sessions, runtime.publisher, on=on, store=True, workers=workers,
                             progress=progress)
    except OutOfBudget:
        complete = False
    return made, timed, time.perf_counter() - wall, _cpu() - cpu, complete


def _cpu() -> float:
    """CPU seconds of this process and of its ended children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def revisable(runtime: Runtime, years: list[int], slot: date) -> list[str]:
    """The quarters published before ``slot`` that may still change at it."""
    calendar = runtime.publisher.calendar
    out = []
    for year in years:
        for q in range(1, 5):
            quarter = Period.parse(f"{year}-Q{q}")
            if calendar.first_publication(quarter) < slot and calendar.may_change(quarter, slot):
                out.append(str(quarter))
    return out


def figures(made: list[releases.Prepared]) -> tuple[int, int, int]:
    cells = withheld = 0
    for prepared in made:
        for counts in prepared.figures.get("indicators", {}).values():
            cells += counts["cells"]
            withheld += counts["withheld"]
    return sum(1 for p in made if p.release_id), cells, withheld


@dataclass
class Result:
    store: str
    agreed: str
    records: int
    store_cells: int
    families: int = 0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)


def run(name: str, args: argparse.Namespace, agreed: str) -> Result:
    with tempfile.TemporaryDirectory(prefix=f"bench-releases-{name}-") as scratch:
        runtime = start(Path(scratch), agreed)
        try:
            return _run(name, args, agreed, runtime)
        finally:
            runtime.close()


def _run(name: str, args: argparse.Namespace, agreed: str, runtime: Runtime) -> Result:
    started = time.perf_counter()
    calendar = runtime.publisher.calendar
    cold_on = calendar.latest_slot(COLD_ON)
    revision_on = calendar.next_slot(cold_on)
    if name == "demo":
        ended = demo_contributions(args.demo_records, args.seed, DEMO_TODAY, runtime)
        cells: Counter[StoreKey] = Counter()
        for _, keys in ended:
            cells.update(keys)
        records = len(ended)
        years = sorted({int(k.period[:4]) for k in cells})
    else:
        pool_records = ended = demo_contributions(min(args.records, args.pool), args.seed, DEMO_TODAY, runtime)
        pool: dict[str, list[list[StoreKey]]] = defaultdict(list)
        for provider, keys in pool_records:
            pool[provider].append(keys)
        country = nation(runtime, args.seed)
        log(f"  {name}: {len(country.population)} municipalities, {len(country.providers)} providers, "
            f"pool of {len(pool_records):,} ended demo records")
        cells = national_cells(country, pool, args.records, args.seed, [f"{YEAR}-Q{q}" for q in range(1, 5)])
        records = args.records
        years = [YEAR]
    with db.session_scope(runtime.sessions) as session:
        aggregate_store.replace_all(session, cells)
    log(f"  {name}: store of {records:,} ended trajectories, {len(cells):,} cells "
        f"(built in {time.perf_counter() - started:.0f} s)")
    result = Result(name, agreed, records, len(cells))

    log(f"  {name}: cold publication at {cold_on} ...")
    with runtime.sessions() as session:
        result.families = sum(1 for _, year, _ in releases.families_with_data(
            session, runtime.codelists, runtime.publisher.configuration) if calendar.due(year, cold_on))
    made, timed, wall, cpu, complete = publish(runtime, cold_on, args.budget, args.workers)
    result.runs["cold"] = _summary(made, timed, wall, cpu, cold_on, complete)
    log(f"  {name}: cold {wall:.1f} s wall, {cpu:.1f} s CPU, {len(made)} releases")
    if not complete:
        log(f"  {name}: stopped after --budget {args.budget:.0f} s: {len(timed)} of {result.families} families; "
            "no revision")
        return result

    quarters = revisable(runtime, years, revision_on)
    new = max(1, records // 100)
    late: Counter[StoreKey] = Counter()
    rng = random.Random(args.seed + 1)
    if name == "demo":
        extra = demo_contributions(new, args.seed + 10**6, DEMO_TODAY, runtime)
        for _, keys in extra:
            period = rng.choice(quarters)
            late.update(k._replace(period=period) for k in keys)
    else:
        late = national_cells(country, pool, new, args.seed + 1, quarters)
    with db.session_scope(runtime.sessions) as session:
        aggregate_store.apply(session, late)
    log(f"  {name}: {new:,} new records in {', '.join(quarters)}; revision at {revision_on} ...")
    made, timed, wall, cpu, complete = publish(runtime, revision_on, args.budget, args.workers)
    result.runs["revision"] = _summary(made, timed, wall, cpu, revision_on, complete)
    result.runs["revision"]["new_records"] = new
    log(f"  {name}: revision {wall:.1f} s wall, {cpu:.1f} s CPU, {figures(made)[0]} releases")
    return result


def _summary(made: list[releases.Prepared], timed: list[Timed], wall: float, cpu: float, on: date,
             complete: bool) -> dict[str, Any]:
    count, cells, withheld = figures(made)
    return {"on": on, "wall": wall, "cpu": cpu, "releases": count, "cells": cells, "withheld": withheld,
            "timed": sorted(timed, key=lambda t: -t.cpu), "complete": complete, "prepared": len(timed)}


def report(results: list[Result], top: int) -> None:
    print()
    print("publication: publish_due(store=True) of every family with data; SQLite in a temporary directory")
    header = (f"{'store':<9} {'agreed':<8} {'records':>10} {'store cells':>11} {'families':>8} {'run':<9} "
              f"{'wall s':>8} {'CPU s':>8} {'releases':>8} {'cells':>10} {'withheld':>8} {'vs cold':>7} done")
    print(header)
    for r in results:
        cold = r.runs.get("cold")
        for label, run in r.runs.items():
            share = run["withheld"] / run["cells"] if run["cells"] else 0.0
            ratio = f"{run['wall'] / cold['wall']:.2f}" if cold and label != "cold" and cold["wall"] else ""
            print(f"{r.store:<9} {r.agreed:<8} {r.records:>10,} {r.store_cells:>11,} {r.families:>8} {label:<9} "
                  f"{run['wall']:>8.1f} {run['cpu']:>8.1f} {run['releases']:>8} {run['cells']:>10,} "
                  f"{100 * share:>7.2f}% {ratio:>7} {'all' if run['complete'] else run['prepared']}")
    print("goal: the national store's whole publication in at most 600 s "
          "(done: 'all' families, or how many were prepared within --budget)")
    for r in results:
        for label, run in r.runs.items():
            total = sum(t.cpu for t in run["timed"]) or 1.0
            print(f"\n{r.store} ({r.agreed}) {label} at {run['on']}: top {top} families by CPU")
            print(f"  {'family':<36} {'year':>4} {'framework':<18} {'wall s':>7} {'CPU s':>7} {'share':>6}")
            for t in run["timed"][:top]:
                print(f"  {t.family:<36} {t.year:>4} {t.framework:<18} {t.wall:>7.1f} {t.cpu:>7.1f} "
                      f"{100 * t.cpu / total:>5.1f}%")
            kinds: Counter[str] = Counter()
            for t in run["timed"]:
                kinds[t.family.split(":")[0]] += t.cpu
            print("  CPU by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(kinds.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="ended trajectories in the national store")
    parser.add_argument("--demo-records", type=int, default=5_000, help="demo records (ttp demo seed's default)")
    parser.add_argument("--pool", type=int, default=60_000, help="demo records the national store reuses")
    parser.add_argument("--stores", default="demo,national", help="comma-separated: demo, national")
    parser.add_argument("--agreed", default="all", help="comma-separated: all (every region agreed), example")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--budget", type=float, default=math.inf,
                        help="seconds per publication; past it the remaining families are skipped (and no revision)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes protecting families at once (default: publish_due's, one per core)")
    parser.add_argument("--top", type=int, default=8, help="families listed per run")
    args = parser.parse_args()
    logging.getLogger("ttp").setLevel(logging.ERROR)  # the per-indicator disclosure log lines
    results = []
    for agreed in args.agreed.split(","):
        for name in args.stores.split(","):
            log(f"[{name}, agreed regions: {agreed}]")
            results.append(run(name.strip(), args, agreed.strip()))
    report(results, args.top)


if __name__ == "__main__":
    main()
