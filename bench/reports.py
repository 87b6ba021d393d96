"""Report latency at 10k and 1M records: the same report, p50 and p95, and their ratio.

Reports read the aggregate store, never the records, so the store is filled here directly with
the counts the demo population's records contribute (the exact cells ingestion would write),
which makes a 1M-record store affordable to build. Then the same municipality report is asked
for repeatedly through the ASGI app (HTTP semantics, auth and audit included):

- cold: the first request after the store changed (the family's year is protected and kept);
  also for the region report of Friesland (18 members and the region, protected together), as
  read by Leeuwarden;
- warm: the following requests (cut from the kept release), p50 and p95, sent to the small and
  the large store in turn, so that both see the same machine at the same moments.

    .venv/bin/python bench/reports.py [--small 10000] [--large 1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient  # noqa: E402

from app import (
    aggregate_store,  # noqa: E402
    db,  # noqa: E402
)
from app.auth import clients  # noqa: E402
from app.demo import generate  # noqa: E402
from app.main import create_app  # noqa: E402
from app.records.contributions import contributions  # noqa: E402
from app.records.schemas import RECORD_ADAPTER, validation_context  # noqa: E402
from app.settings import Settings  # noqa: E402
from pseudonymisation import generate_key  # noqa: E402

MUNICIPALITY = "GM0363"
REGION, REGION_MEMBER = "friesland", "GM0080"  # the region the example configuration agreed; Leeuwarden


def fill_store(app, records: int, seed: int) -> tuple[int, float]:
    runtime = app.state.runtime
    today = datetime.now(UTC).date()
    cells: Counter = Counter()
    done = 0
    started = time.perf_counter()
    chunk = 50_000
    context = validation_context(today=today, rom_instruments=runtime.records.vault.rom_instruments)
    while done < records:
        size = min(chunk, records - done)
        population = generate(size, seed=seed + done, provider_key=generate_key("v1"), today=today)
        for demo in population.records:
            body = dict(demo.body, consent_id="bench", pseudonym="p1.v1.bench")
            record = RECORD_ADAPTER.validate_python(body, context=context)
            cells.update(contributions(demo.provider, record, config=runtime.records.indicator_config))
        done += size
    with db.session_scope(runtime.sessions) as session:
        aggregate_store.replace_all(session, cells)
    return len(cells), time.perf_counter() - started


def prepare(stack: ExitStack, records: int, seed: int) -> dict:
    """A service over a store of ``records`` records; its first (cold) request is timed."""
    scratch = stack.enter_context(tempfile.TemporaryDirectory())
    settings = Settings(data_dir=Path(scratch), log_level="WARNING")
    db.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    cells, seconds = fill_store(app, records, seed)
    print(f"  store for {records:,} records: {cells:,} cells (built in {seconds:.1f} s)", flush=True)
    runtime = app.state.runtime
    runtime.reports.wait_seconds = 3600  # time the whole first protection, not the 503 after 20 s
    api = stack.enter_context(TestClient(app))
    headers = {code: _token(api, runtime, settings, code) for code in (MUNICIPALITY, REGION_MEMBER)}
    year = datetime.now(UTC).year - 1
    url = f"/v1/reports/municipalities/{MUNICIPALITY}?period={year}&by=provider"
    started = time.perf_counter()
    first = api.get(url, headers=headers[MUNICIPALITY])
    cold = time.perf_counter() - started
    assert first.status_code == 200, first.text
    started = time.perf_counter()
    region = api.get(f"/v1/reports/regions/{REGION}?period={year}&by=municipality", headers=headers[REGION_MEMBER])
    region_cold = time.perf_counter() - started
    assert region.status_code == 200, region.text
    return {"records": records, "cells": cells, "cold_ms": cold * 1000, "region_cold_ms": region_cold * 1000,
            "api": api, "url": url, "headers": headers[MUNICIPALITY], "timings": []}


def _token(api: TestClient, runtime, settings: Settings, code: str) -> dict[str, str]:
    with db.session_scope(runtime.sessions) as session:
        made = clients.create_client(session, name=f"bench {code}", org_type="municipality", org_id=code,
                                     scopes=None, ttp_id=settings.ttp_id,
                                     known_municipalities=runtime.codelists.municipalities)
    token = api.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(made.client_id, made.client_secret or "")).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def warm(services: list[dict], requests: int) -> None:
    """Requests to the services in turn, so that whatever else the machine does at a moment
    falls on both alike."""
    for _ in range(requests):
        for service in services:
            started = time.perf_counter()
            response = service["api"].get(service["url"], headers=service["headers"])
            service["timings"].append(time.perf_counter() - started)
            assert response.status_code == 200
    for service in services:
        timings = sorted(service["timings"])
        service["p50_ms"] = statistics.median(timings) * 1000
        service["p95_ms"] = timings[int(0.95 * (len(timings) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    with ExitStack() as stack:
        results = []
        for records in (args.small, args.large):
            print(f"[{records:,} records]", flush=True)
            results.append(prepare(stack, records, args.seed))
        warm(results, args.requests)
    print()
    print(f"report: GET /v1/reports/municipalities/{MUNICIPALITY}?period=<last year>&by=provider, SQLite, "
          f"{args.requests} warm requests to each store, alternating")
    print(f"{'records':>10} {'cells':>9} {'cold ms':>9} {'p50 ms':>8} {'p95 ms':>8} {'region cold ms':>15}")
    for r in results:
        print(f"{r['records']:>10,} {r['cells']:>9,} {r['cold_ms']:>9.1f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} "
              f"{r['region_cold_ms']:>15.1f}")
    small, large = results
    print(f"ratio p95 large/small: {large['p95_ms'] / small['p95_ms']:.2f}  (goal: p95 <= 50 ms and ratio <= 1.5)")


if __name__ == "__main__":
    main()
