"""Time (and fingerprint) the protection of chosen families against a kept national store.

``bench/releases.py`` builds its store in a temporary directory and publishes everything; to
measure one change on a few families, build the store once and keep it:

    .venv/bin/python bench/release_family.py --dir /tmp/bench-1m --build [--records 1000000]

then time families in this process (``prepare(store=False)``'s work: read, compose, protect,
render), each with its CPU seconds, withheld share and the SHA-256 of its rendered release (with a
fixed ``as_of``, so equal bytes mean an equal release):

    .venv/bin/python bench/release_family.py --dir /tmp/bench-1m --family 'region:.*Friesland' \\
        [--framework jeugdhulp] [--every 60] [--profile out.prof]

``--family`` is a regular expression on the family key (``region:<code>``, ``provider:<agb>``);
``--every N`` keeps every Nth of the matching families (in ``families_with_data``'s order).

Each line also gives the family's HiGHS solves, their simplex iterations and the CPU seconds
spent in them: on a shared machine a family's CPU seconds move by 20% between identical runs,
while the solves and iterations of an unchanged pattern do not move at all.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import releases as bench  # noqa: E402  (bench/releases.py)

from app import aggregate_store, db  # noqa: E402
from app.aggregate_store import StoreKey  # noqa: E402
from app.reports import releases  # noqa: E402
from app.reports.disclosure import highs  # noqa: E402

AS_OF = datetime(2026, 2, 14, 6, 0, tzinfo=UTC)


def build(directory: Path, records: int, pool_size: int, seed: int) -> None:
    runtime = bench.start(directory, "all")
    try:
        started = time.perf_counter()
        pool_records = bench.demo_contributions(min(records, pool_size), seed, bench.DEMO_TODAY, runtime)
        pool: dict[str, list[list[StoreKey]]] = defaultdict(list)
        for provider, keys in pool_records:
            pool[provider].append(keys)
        country = bench.nation(runtime, seed)
        cells: Counter[StoreKey] = bench.national_cells(country, pool, records, seed,
                                                        [f"{bench.YEAR}-Q{q}" for q in range(1, 5)])
        with db.session_scope(runtime.sessions) as session:
            aggregate_store.replace_all(session, cells)
        bench.log(f"store of {records:,} records, {len(cells):,} cells in {directory} "
                  f"({time.perf_counter() - started:.0f} s)")
    finally:
        runtime.close()


class LpMeter:
    """Counts every HiGHS solve (perturbation and release check LPs), its simplex iterations and
    the CPU seconds spent in it."""

    def __init__(self) -> None:
        self.runs = self.iterations = 0
        self.seconds = 0.0

    def install(self) -> None:
        original = highs.HighsModel.run
        meter = self

        def run(model: highs.HighsModel) -> bool:
            started = time.process_time()
            try:
                return original(model)
            finally:
                meter.seconds += time.process_time() - started
                meter.runs += 1
                meter.iterations += model.iterations

        highs.HighsModel.run = run  # type: ignore[method-assign, assignment]

    def take(self) -> tuple[int, int, float]:
        """The counts since the last call."""
        counts = (self.runs, self.iterations, self.seconds)
        self.runs = self.iterations = 0
        self.seconds = 0.0
        return counts


def measure(directory: Path, pattern: str, framework: str | None, every: int, profile: str | None) -> None:
    runtime = bench.start(directory, "all")
    publisher = runtime.publisher
    slot = publisher.calendar.latest_slot(bench.COLD_ON)
    try:
        with runtime.sessions() as session:
            chosen = [(f, y, fw) for f, y, fw in releases.families_with_data(
                session, runtime.codelists, publisher.configuration)
                if re.search(pattern, f.key) and (framework is None or fw == framework)][::every]
        profiler = cProfile.Profile() if profile else None
        meter = LpMeter()
        meter.install()
        total_cpu = cells_all = withheld_all = 0.0
        for family, year, fw in chosen:
            with runtime.sessions() as session:
                job = releases._read(session, publisher, family, year, fw, slot, over_time=True, now=AS_OF,
                                     started=time.perf_counter())
            assert not isinstance(job, releases.Prepared)
            if profiler:
                profiler.enable()
            meter.take()
            content, figures, cpu = releases._protect(job, publisher.registry, publisher.configuration)
            runs, iterations, lp_seconds = meter.take()
            if profiler:
                profiler.disable()
            digest = hashlib.sha256(releases._pack(content)).hexdigest()[:16]
            cells = sum(c["cells"] for c in figures["indicators"].values())
            withheld = sum(c["withheld"] for c in figures["indicators"].values())
            total_cpu += cpu
            cells_all += cells
            withheld_all += withheld
            print(f"{family.key:<36} {year} {fw:<18} {cpu:8.2f} s CPU  {withheld:>6}/{cells:<6} "
                  f"{100 * withheld / max(cells, 1):6.2f}%  {digest}  HiGHS {runs} solves, "
                  f"{iterations} iterations, {lp_seconds:.2f} s", flush=True)
        print(f"total {len(chosen)} families: {total_cpu:.2f} s CPU, withheld "
              f"{100 * withheld_all / max(cells_all, 1):.2f}% ({int(withheld_all)}/{int(cells_all)})")
        if profiler and profile:
            profiler.dump_stats(profile)
    finally:
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="where the store is (or is built)")
    parser.add_argument("--build", action="store_true", help="build the national store in --dir")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--pool", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--family", default=None, help="regular expression on the family key")
    parser.add_argument("--framework", default=None)
    parser.add_argument("--every", type=int, default=1)
    parser.add_argument("--profile", default=None, help="write cProfile stats of the protection here")
    args = parser.parse_args()
    import logging
    logging.getLogger("ttp").setLevel(logging.ERROR)
    if args.build:
        args.dir.mkdir(parents=True, exist_ok=True)
        build(args.dir, args.records, args.pool, args.seed)
    if args.family:
        measure(args.dir, args.family, args.framework, args.every, args.profile)


if __name__ == "__main__":
    main()
