"""Load test: many providers uploading while many municipalities read reports. Prints figures.

    .venv/bin/python bench/load.py [--backend sqlite|postgresql|both] [--workers 4] [--readers 200]

Per backend it builds a fresh service the way ``bench/ingest.py`` does (``ttp db upgrade``,
clients per demo provider and per municipality, ``ttp serve`` on a free port, the demo consents
registered over HTTP), uploads half of the demo records and publishes the releases due
(``ttp releases publish``: set-up, not measured). Then, measured, all at once:

- ``--readers`` municipality clients (default 200, one client each, made through the admin API),
  each reading ``--reads`` reports of its own municipality (JSON and CSV, period year/half-year/
  quarter, with and without a breakdown);
- every demo provider uploading the other half of the records in batches;
- ``--token-burst`` concurrent token requests (default 20).

It prints per endpoint: requests, p50/p95/p99 latency, status counts, and the throughput; the
run fails (exit 1) on any 5xx or dropped connection. 429 and 503 (with Retry-After) are excess
load answered as the contract says: counted, not failures.

The privacy configuration is the example's with no region agreed (every municipality its own
family), so that the set-up publishes in a minute; reading a region costs the same as reading a
municipality once its release is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for path in (REPO_ROOT, REPO_ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import httpx  # noqa: E402
import ingest  # noqa: E402  (bench/ingest.py: the service set-up this shares)

from app import demo  # noqa: E402
from pseudonymisation import PseudonymKey  # noqa: E402


def _privacy_config(data_dir: Path) -> Path:
    text = (REPO_ROOT / "deploy" / "privacy.example.toml").read_text()
    path = data_dir / "privacy.toml"
    path.write_text(text.replace('reporting_agreed = ["Friesland"]', "reporting_agreed = []"))
    return path


class Timings:
    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)

    def add(self, endpoint: str, seconds: float, status: str) -> None:
        self.seconds[endpoint].append(seconds)
        self.statuses[endpoint][status] += 1

    def failures(self) -> int:
        return sum(n for counts in self.statuses.values() for status, n in counts.items()
                   if status.startswith("5") and status not in ("503",) or status == "dropped")

    def print(self, backend: str, wall: float) -> None:
        print(f"\n{backend}: {sum(len(v) for v in self.seconds.values())} requests in {wall:.1f} s")
        print(f"{'endpoint':<28}{'n':>6}{'p50 s':>9}{'p95 s':>9}{'p99 s':>9}{'req/s':>9}  statuses")
        for endpoint in sorted(self.seconds):
            values = sorted(self.seconds[endpoint])
            q = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses[endpoint].items()))
            print(f"{endpoint:<28}{len(values):>6}{q[49]:>9.2f}{q[94]:>9.2f}{q[98]:>9.2f}"
                  f"{len(values) / wall:>9.1f}  {statuses}")


async def _timed(client: httpx.AsyncClient, timings: Timings, endpoint: str, method: str, url: str,
                 **kwargs: object) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        timings.add(endpoint, time.perf_counter() - started, "dropped")
        return None
    timings.add(endpoint, time.perf_counter() - started, str(response.status_code))
    return response


async def _reader(base: str, token: str, code: str, reads: int, timings: Timings, rng: random.Random) -> None:
    year = date.today().year - 1
    periods = [str(year), f"{year}-H1", f"{year}-H2", f"{year}-Q2", f"{year}-Q4"]
    async with httpx.AsyncClient(base_url=base, timeout=600,
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(reads):
            params = {"period": rng.choice(periods)}
            if rng.random() < 0.4:
                params["by"] = rng.choice(["provider", "age_band", "sex", "hulpvorm"])
            csv = rng.random() < 0.3
            await _timed(client, timings, "report " + ("csv" if csv else "json"), "GET",
                         f"/v1/reports/municipalities/{code}", params=params,
                         headers={"Accept": "text/csv"} if csv else {})


async def _uploader(base: str, token: str, bodies: list[bytes], timings: Timings) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as client:
        for body in bodies:
            while True:
                response = await _timed(client, timings, "records batch", "POST", "/v1/records/batches",
                                        content=body)
                if response is None or response.status_code not in (429, 503):
                    break
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))


async def _token_burst(base: str, credentials: list[tuple[str, str]], timings: Timings) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        await asyncio.gather(*[
            _timed(client, timings, "token", "POST", "/v1/oauth/token",
                   data={"grant_type": "client_credentials"}, auth=pair) for pair in credentials])


def run_backend(backend: str, database_url: str | None, args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix=f"ttp-load-{backend}-"))
    try:
        env = {**os.environ, "TTP_DATA_DIR": str(data_dir), "TTP_LOG_LEVEL": "WARNING", "TTP_ENV": "development",
               "TTP_PRIVACY_CONFIG": str(_privacy_config(data_dir))}
        env.pop("TTP_KEY_DIR", None)
        env.pop("TTP_DATABASE_URL", None)
        if database_url:
            env["TTP_DATABASE_URL"] = database_url
        ingest.cli(env, "db", "upgrade")
        key = PseudonymKey(key_id="v1", secret=b"load-test-provider-key-32-bytes!")
        population = demo.generate(args.records, seed=args.seed, provider_key=key, today=date.today())
        providers = {}
        for provider in population.providers:
            made = json.loads(ingest.cli(env, "clients", "add", "--org-type", "provider", "--org-id", provider.agb,
                                         "--name", "load", "--json"))
            providers[provider.agb] = (made["client_id"], made["client_secret"])
        counts = Counter(c.body["municipalities"][0] for c in population.consents)
        towns = [code for code, _ in counts.most_common(args.municipalities)]
        admin = json.loads(ingest.cli(env, "clients", "add", "--org-type", "admin", "--org-id", "TTP",
                                      "--name", "load admin", "--json"))
        serve_env = {**env, "TTP_RUN_JOBS": "false"}  # the set-up publishes once, by the command
        with ingest.serve(serve_env, data_dir, workers=args.workers if database_url else 1) as base:
            tokens = {agb: ingest.token(base, *pair) for agb, pair in providers.items()}
            ids = ingest.register_consents(base, population, tokens, 8)
            groups = demo.batches(population.records, size=args.batch_size)
            bodies = [(g[0].provider, json.dumps({"records": [r.with_consent_id(ids[(r.provider, r.consent_ref)])
                                                              for r in g]}).encode()) for g in groups]
            first, later = bodies[::2], bodies[1::2]
            ingest.send_batches(base, first, tokens, 2)
            started = time.perf_counter()
            ingest.cli(env, "releases", "publish")
            print(f"[{backend}] set-up: {len(first)} batches stored, releases published in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)

            # One client per reader, as 200 analysts would have (the report cap is per client).
            admin_token = ingest.token(base, admin["client_id"], admin["client_secret"])
            readers = []
            for i in range(args.readers):
                code = towns[i % len(towns)]
                made = httpx.post(f"{base}/v1/clients", headers={"Authorization": f"Bearer {admin_token}"},
                                  json={"name": f"load reader {i}", "org_type": "municipality", "org_id": code},
                                  timeout=600).json()
                readers.append((code, (made["client_id"], made["client_secret"])))
            reader_tokens = [ingest.token(base, *pair) for _, pair in readers]
            rng = random.Random(args.seed)
            by_provider: dict[str, list[bytes]] = defaultdict(list)
            for agb, body in later:
                by_provider[agb].append(body)
            timings = Timings()

            async def measured() -> None:
                tasks = [_reader(base, reader_tokens[i], readers[i][0], args.reads, timings,
                                 random.Random(rng.random())) for i in range(args.readers)]
                tasks += [_uploader(base, tokens[agb], chunk, timings) for agb, chunk in by_provider.items()]
                burst = [readers[i % len(readers)][1] for i in range(args.token_burst)]
                tasks.append(_token_burst(base, burst, timings))
                await asyncio.gather(*tasks)

            started = time.perf_counter()
            asyncio.run(measured())
            wall = time.perf_counter() - started
        timings.print(f"{backend} ({args.workers if database_url else 1} worker(s), {args.readers} readers, "
                      f"{len(by_provider)} uploaders, {args.token_burst} token requests at once)", wall)
        failures = timings.failures()
        print(f"5xx (but 503) and dropped connections: {failures}")
        # Why the service answered 503 (its log's JSON lines: the message and the error type only).
        reasons: Counter[str] = Counter()
        for line in (data_dir / "serve.log").read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") in ("database busy", "connection pool exhausted"):
                reasons[f"{entry['message']} ({entry.get('error_type')})"] += 1
        print("503 reasons: " + (", ".join(f"{k}: {n}" for k, n in reasons.most_common()) or "none"))
        return failures
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=4, help="API workers on PostgreSQL (SQLite: 1)")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--reads", type=int, default=5, help="reports each reader reads")
    parser.add_argument("--municipalities", type=int, default=10, help="readers spread over this many")
    parser.add_argument("--token-burst", type=int, default=20)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args(argv)
    failures = 0
    if args.backend in ("sqlite", "both"):
        failures += run_backend("sqlite", None, args)
    if args.backend in ("postgresql", "both"):
        with ingest.postgres_server(args) as server:
            if server is None:
                print("postgresql: no server binaries and no --postgres-url; skipped", file=sys.stderr)
            else:
                with ingest.postgres_database(server) as url:
                    failures += run_backend("postgresql", url, args)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
