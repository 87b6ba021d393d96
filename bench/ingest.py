"""Benchmark: record ingestion end to end over HTTP, against a raw insert ceiling. Prints figures.

    .venv/bin/python bench/ingest.py --records 20000

Per backend (SQLite, then PostgreSQL when a server can be had) it:

1. makes a fresh data directory (TTP_DATA_DIR) and database, runs ``python -m app.cli db upgrade``
   and ``python -m app.cli clients add --org-type provider ... --json`` for every demo provider;
2. starts the real service (``python -m app.cli serve --port <free port>``, uvicorn) and waits
   for /healthz;
3. set-up, not measured: generates the demo population (``app.demo.generate``) and registers its
   consents over HTTP (POST /v1/consents, one client per provider, client_secret_basic tokens);
4. measured: POST /v1/records/batches with JSON {"records": [...]} in batches of --batch-size,
   from one client (or --concurrency N), wall clock from the first send to the last 200;
   on PostgreSQL once more on a fresh database with ``serve --workers N`` (--workers, default 4)
   and as many clients sending at once;
5. raw ceiling, same run and same database: executemany of as many plain rows (bench_raw: id,
   provider, record_id, a payload blob as large as an average stored ciphertext) in chunks of
   --batch-size rows per transaction, through ``app.db.make_engine`` so the same pragmas apply.

The ratio end-to-end / raw says how much of the database's plain write speed ingestion keeps
after validation, pseudonymisation, consent checks, encryption, aggregate updates and audit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from sqlalchemy import (  # noqa: E402
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import make_url  # noqa: E402

from app import demo  # noqa: E402
from app.db import make_engine  # noqa: E402
from app.settings import Settings  # noqa: E402
from pseudonymisation import PseudonymKey  # noqa: E402
from tests.postgres import Cluster, find_bin_dir  # noqa: E402

GOAL = "goal: >= 20,000 records/s on SQLite"
DEFAULT_PAYLOAD_BYTES = 600


@dataclass
class Result:
    backend: str
    workers: int
    concurrency: int
    records: int
    seconds: float
    raw_rows_per_second: float
    payload_bytes: int
    consents: int
    setup_seconds: float
    #: CPU seconds the service's processes used while the batches were sent (None without /proc).
    service_cpu_seconds: float | None = None
    #: Records per second of the database alone writing what ingestion writes (see :func:`database_floor`).
    floor_records_per_second: float = 0.0
    #: Cell rows upserted per record (the aggregate store's writes).
    cells_per_record: float = 0.0
    #: The floor's parts, microseconds per record: record rows, cell upserts, commits.
    floor_us: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_us_per_record(self) -> float | None:
        if self.service_cpu_seconds is None or not self.records:
            return None
        return self.service_cpu_seconds / self.records * 1e6

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.records_per_second / self.raw_rows_per_second if self.raw_rows_per_second else 0.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`ttp {' '.join(args)}` failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


@contextmanager
def serve(env: dict[str, str], data_dir: Path, workers: int = 1) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_file = (data_dir / "serve.log").open("w")
    extra = ["--workers", str(workers)] if workers > 1 else []
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), *extra], env=env,
                               cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT)
    SERVICE_PIDS[base] = process.pid
    try:
        while True:  # until it answers or exits: a busy machine is slow, not broken
            if process.poll() is not None:
                raise SystemExit(f"the service exited ({process.returncode}); see {data_dir / 'serve.log'}:\n"
                                 + (data_dir / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log_file.close()
        SERVICE_PIDS.pop(base, None)


#: The ``ttp serve`` process of each running service, by its base URL (for :func:`service_cpu_seconds`).
SERVICE_PIDS: dict[str, int] = {}


def service_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by ``pid`` and every process under it (the workers of
    ``serve --workers N``), from /proc; None where there is no /proc. Unlike the wall clock, this
    hardly moves when other processes share the machine's cores."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        process = int(stat.parent.name)
        parents[process] = int(fields[1])  # ppid; utime and stime are fields 14 and 15 of stat
        ticks[process] = int(fields[11]) + int(fields[12])
    tree = {pid}
    grown = True
    while grown:
        below = {p for p, parent in parents.items() if parent in tree} - tree
        grown = bool(below)
        tree |= below
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


def token(base: str, client_id: str, client_secret: str) -> str:
    response = httpx.post(f"{base}/v1/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(client_id, client_secret), timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"token for {client_id}: {response.status_code} {response.text}")
    return response.json()["access_token"]


def register_consents(base: str, population: demo.DemoPopulation, tokens: dict[str, str],
                      workers: int, mode: str = "batch") -> dict[tuple[str, str], str]:
    """Register every consent (set-up); returns (provider, consent_ref) -> consent_id. ``batch``:
    ``POST /v1/consents/batches`` per provider, 1,000 at a time (what ``ttp submit`` does);
    ``one``: ``POST /v1/consents`` per consent."""
    clients = {agb: httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=600)
               for agb, t in tokens.items()}
    ids: dict[tuple[str, str], str] = {}
    lock = threading.Lock()

    def one(item: demo.DemoConsent) -> None:
        response = clients[item.provider].post("/v1/consents", json=item.body)
        if response.status_code != 201:
            raise SystemExit(f"consent {item.body['consent_ref']}: {response.status_code} {response.text}")
        with lock:
            ids[(item.provider, item.body["consent_ref"])] = response.json()["consent_id"]

    def batch(provider: str, items: list[demo.DemoConsent]) -> None:
        response = clients[provider].post("/v1/consents/batches", json={"consents": [c.body for c in items]})
        if response.status_code != 200:
            raise SystemExit(f"consents of {provider}: {response.status_code} {response.text[:2000]}")
        with lock:
            for made in response.json()["consents"]:
                ids[(provider, made["consent_ref"])] = made["consent_id"]

    per_provider: dict[str, list[demo.DemoConsent]] = {}
    for item in population.consents:
        per_provider.setdefault(item.provider, []).append(item)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            if mode == "one":
                futures = [pool.submit(one, c) for c in population.consents]
            else:
                futures = [pool.submit(batch, provider, items[start:start + 1000])
                           for provider, items in per_provider.items() for start in range(0, len(items), 1000)]
            for future in futures:
                future.result()
    finally:
        for client in clients.values():
            client.close()
    return ids


def send_batches(base: str, bodies: list[tuple[str, bytes]], tokens: dict[str, str], concurrency: int) -> float:
    """POST every (provider, JSON body) in order; returns the wall-clock seconds (measured)."""
    position = 0
    lock = threading.Lock()
    failure: list[str] = []

    def worker() -> None:
        nonlocal position
        with httpx.Client(base_url=base, timeout=600) as client:
            while True:
                with lock:
                    if failure or position >= len(bodies):
                        return
                    provider, content = bodies[position]
                    position += 1
                response = client.post("/v1/records/batches", content=content, headers={
                    "Authorization": f"Bearer {tokens[provider]}", "Content-Type": "application/json"})
                if response.status_code != 200:
                    with lock:
                        failure.append(f"{response.status_code} {response.text[:2000]}")
                    return

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failure:
        raise SystemExit(f"POST /v1/records/batches failed: {failure[0]}")
    return seconds


def average_ciphertext_bytes(url: str) -> int:
    from app.models import OutcomeRecord

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            value = connection.execute(select(func.avg(func.length(OutcomeRecord.ciphertext)))).scalar()
    except Exception as exc:  # the lead's schema may change; the figure is only a size hint
        log(f"  (could not read the average ciphertext size: {exc}; using {DEFAULT_PAYLOAD_BYTES} bytes)")
        value = None
    finally:
        engine.dispose()
    return int(value) if value else DEFAULT_PAYLOAD_BYTES


def raw_ceiling(url: str, rows: int, chunk: int, payload_bytes: int, providers: list[str]) -> float:
    """Rows per second of plain executemany inserts, ``chunk`` rows per transaction."""
    metadata = MetaData()
    table = Table("bench_raw", metadata, Column("id", Integer, primary_key=True),
                  Column("provider", String(8), nullable=False), Column("record_id", String(64), nullable=False),
                  Column("payload", LargeBinary, nullable=False))
    data = [{"provider": providers[i % len(providers)], "record_id": f"raw-{i:08d}",
             "payload": os.urandom(payload_bytes)} for i in range(rows)]
    engine = make_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        started = time.perf_counter()
        for start in range(0, rows, chunk):
            with engine.begin() as connection:
                connection.execute(insert(table), data[start:start + chunk])
        seconds = time.perf_counter() - started
        with engine.connect() as connection:
            stored = connection.execute(select(func.count()).select_from(table)).scalar_one()
        if stored != rows:
            raise SystemExit(f"raw ceiling stored {stored} rows, expected {rows}")
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return rows / seconds if seconds else 0.0


def _mirror(source: Table, name: str, metadata: MetaData) -> Table:
    """An empty table like ``source``: its columns, unique constraints and indexes, no foreign keys."""
    table = Table(name, metadata, *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                                    for c in source.columns))
    for constraint in source.constraints:
        if isinstance(constraint, UniqueConstraint):
            table.append_constraint(UniqueConstraint(*(c.name for c in constraint.columns),
                                                     name=f"{name}_{constraint.name}"))
    for index in source.indexes:
        Index(f"{name}_{index.name}", *(table.c[c.name] for c in index.columns), unique=bool(index.unique))
    return table


def batch_cells(population: demo.DemoPopulation, batch_size: int) -> list[list[tuple[tuple[str, ...], int]]]:
    """Per batch (as sent), the cells its records count in, with counts: what the aggregate store
    upserts for new people (linkage pending, as ingestion first stores them)."""
    from app.records.contributions import base_contributions
    from app.records.indicators import IndicatorConfig
    from app.records.schemas import validate_records

    config = IndicatorConfig()
    out = []
    for group in demo.batches(population.records, size=batch_size):
        records, errors = validate_records([dict(r.body, consent_id="cns-floor") for r in group], today=date.today(),
                                           rom_instruments=config.rom_instruments)
        if errors:
            raise SystemExit(f"database floor: a demo record does not validate: {errors[0]}")
        cells: Counter[tuple[str, ...]] = Counter()
        for record in records:
            cells.update(base_contributions(group[0].provider, record, config=config))
        out.append(sorted(cells.items()))
    return out


#: Per database URL, the seconds of the floor's parts: the record rows, the cell upserts, the commits.
FLOOR_PARTS: dict[str, dict[str, float]] = {}


def database_floor(url: str, population: demo.DemoPopulation, batch_size: int,
                   payload_bytes: int) -> tuple[float, float]:
    """(records per second, cell rows per record) of the database alone writing what ingestion
    writes for these records, batch by batch, one transaction each: the record rows (a random
    payload as large as the average ciphertext) and the aggregate store's upserts of the batch's
    cells, the same statements ``app.aggregate_store.apply`` runs, into empty copies of the two
    tables with the same indexes. Nothing else: no parsing, validation, pseudonymisation, consent
    check, sealing, earlier records, audit or HTTP. Ingestion can go no faster than this on this
    database and layout."""
    from app import aggregate_store
    from app.models import OutcomeRecord, ReportCell

    cells = batch_cells(population, batch_size)
    groups = demo.batches(population.records, size=batch_size)
    metadata = MetaData()
    records = _mirror(OutcomeRecord.__table__, "bench_floor_records", metadata)  # type: ignore[arg-type]
    _mirror(ReportCell.__table__, "bench_floor_cells", metadata)  # type: ignore[arg-type]
    columns = ", ".join(aggregate_store.KEY_COLUMNS)
    rows = [[{"provider_id": r.provider, "record_id": f"floor-{b}-{i}", "pseudonym": os.urandom(32).hex()[:43],
              "consent_pk": 1, "batch_pk": b + 1, "format_version": 1, "ciphertext": os.urandom(payload_bytes),
              "settle_month": None, "purge_month": "2031-01"} for i, r in enumerate(group)]
            for b, group in enumerate(groups)]
    engine = make_engine(url)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        postgresql = engine.dialect.name == "postgresql"
        if postgresql:
            keys = ", ".join(["%s::text[]"] * len(aggregate_store.KEY_COLUMNS))
            upsert = (f"INSERT INTO bench_floor_cells ({columns}, count) SELECT * FROM unnest({keys}, %s::integer[]) "
                      f"ON CONFLICT ({columns}) DO UPDATE SET count = bench_floor_cells.count + excluded.count")
        else:
            upsert = (f"INSERT INTO bench_floor_cells ({columns}, count) "
                      f"VALUES ({', '.join(['?'] * (len(aggregate_store.KEY_COLUMNS) + 1))}) "
                      f"ON CONFLICT ({columns}) DO UPDATE SET count = bench_floor_cells.count + excluded.count")
        parts = {"records": 0.0, "cells": 0.0, "commit": 0.0}
        started = time.perf_counter()
        for batch_rows, batch in zip(rows, cells, strict=True):
            with engine.begin() as connection:
                mark = time.perf_counter()
                connection.execute(insert(records), batch_rows)
                parts["records"] += time.perf_counter() - mark
                mark = time.perf_counter()
                if postgresql and batch:
                    connection.exec_driver_sql(upsert, (*([list(c) for c in zip(*(k for k, _ in batch), strict=True)]),
                                                        [n for _, n in batch]))
                elif batch:
                    connection.exec_driver_sql(upsert, [(*key, n) for key, n in batch])
                parts["cells"] += time.perf_counter() - mark
                mark = time.perf_counter()
            parts["commit"] += time.perf_counter() - mark
        seconds = time.perf_counter() - started
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    FLOOR_PARTS[url] = parts
    total = len(population.records)
    return (total / seconds if seconds else 0.0), sum(len(batch) for batch in cells) / total


def run_backend(backend: str, database_url: str | None, args: argparse.Namespace, *, workers: int = 1,
                concurrency: int = 1) -> Result:
    data_dir = Path(tempfile.mkdtemp(prefix=f"ttp-bench-{backend}-"))
    backend_label = backend
    backend = f"{backend} x{workers}" if workers > 1 else backend
    try:
        env = {**os.environ, "TTP_DATA_DIR": str(data_dir), "TTP_LOG_LEVEL": "WARNING", "TTP_ENV": "development"}
        env.pop("TTP_KEY_DIR", None)
        env.pop("TTP_PRIVACY_CONFIG", None)
        if database_url:
            env["TTP_DATABASE_URL"] = database_url
        else:
            env.pop("TTP_DATABASE_URL", None)
        url = Settings(data_dir=data_dir, database_url=database_url).resolved_database_url

        setup_started = time.perf_counter()
        log(f"[{backend}] database {make_url(url).render_as_string(hide_password=True)}")
        cli(env, "db", "upgrade")
        key = PseudonymKey(key_id="v1", secret=hashlib.sha256(f"bench-{args.seed}".encode()).digest())
        population = demo.generate(args.records, seed=args.seed, provider_key=key, today=date.today())
        credentials: dict[str, tuple[str, str]] = {}
        for provider in population.providers:
            made = json.loads(cli(env, "clients", "add", "--org-type", "provider", "--org-id", provider.agb,
                                  "--name", "bench", "--json"))
            credentials[provider.agb] = (made["client_id"], made["client_secret"])
        log(f"[{backend}] {len(population.records)} records, {len(population.consents)} consents, "
            f"{len(population.providers)} providers")

        with ExitStack() as service:
            base = service.enter_context(serve(env, data_dir, workers))
            tokens = {agb: token(base, *pair) for agb, pair in credentials.items()}
            consent_started = time.perf_counter()
            ids = register_consents(base, population, tokens, args.consent_workers, args.consents)
            log(f"[{backend}] registered {len(ids)} consents in {time.perf_counter() - consent_started:.1f} s "
                "(set-up, not measured)")
            if args.restart:  # the batches go to a service that did not register their consents (it opens each)
                service.close()
                base = service.enter_context(serve(env, data_dir, workers))
            bodies = [
                (group[0].provider, json.dumps(
                    {"records": [r.with_consent_id(ids[(r.provider, r.consent_ref)]) for r in group]}).encode())
                for group in demo.batches(population.records, size=args.batch_size)
            ]
            tokens = {agb: token(base, *pair) for agb, pair in credentials.items()}  # fresh for the measurement
            setup_seconds = time.perf_counter() - setup_started
            log(f"[{backend}] sending {len(bodies)} batches of at most {args.batch_size} "
                f"(concurrency {concurrency}, workers {workers}) ...")
            cpu_before = service_cpu_seconds(SERVICE_PIDS[base])
            seconds = send_batches(base, bodies, tokens, concurrency)
            cpu_after = service_cpu_seconds(SERVICE_PIDS[base])
            service_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
            log(f"[{backend}] {len(population.records)} records in {seconds:.2f} s"
                + (f", service CPU {service_cpu:.2f} s" if service_cpu is not None else ""))

        payload_bytes = average_ciphertext_bytes(url)
        log(f"[{backend}] raw ceiling: {len(population.records)} rows of {payload_bytes} bytes ...")
        raw = raw_ceiling(url, len(population.records), args.batch_size, payload_bytes,
                          [p.agb for p in population.providers])
        log(f"[{backend}] database floor: the record rows and cell upserts of every batch, without the service ...")
        floor, cells = database_floor(url, population, args.batch_size, payload_bytes)
        floor_us = {name: part / len(population.records) * 1e6 for name, part in FLOOR_PARTS.get(url, {}).items()}
        return Result(backend_label, workers, concurrency, len(population.records), seconds, raw, payload_bytes,
                      len(ids), setup_seconds, service_cpu, floor, cells, floor_us)
    finally:
        if args.keep:
            log(f"[{backend}] kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def postgres_server(args: argparse.Namespace) -> Iterator[str | None]:
    """--postgres-url or a throwaway cluster's URL; None when neither can be had."""
    cluster = None
    server = args.postgres_url
    if not server:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            yield None
            return
        cluster = Cluster(bin_dir)
        server = cluster.start()
    try:
        yield Settings(database_url=server).resolved_database_url
    finally:
        if cluster is not None:
            cluster.stop()


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    """A fresh, empty database on ``server``, dropped afterwards."""
    name = f"ttp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        finally:
            admin.dispose()


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    header = ("backend", "workers", "clients", "records", "seconds", "records/s", "raw rows/s", "ratio",
              "service CPU us/record", "db floor records/s", "cells/record")
    rows = [(r.backend, str(r.workers), str(r.concurrency), f"{r.records:,}", f"{r.seconds:.2f}",
             f"{r.records_per_second:,.0f}", f"{r.raw_rows_per_second:,.0f}", f"{r.ratio:.3f}",
             "-" if r.cpu_us_per_record is None else f"{r.cpu_us_per_record:,.0f}",
             f"{r.floor_records_per_second:,.0f}", f"{r.cells_per_record:.2f}") for r in results]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    print()
    print(f"ingestion over HTTP: batches of {args.batch_size:,}, seed {args.seed}; clients = requests at once; "
          f"raw = executemany of plain rows, {args.batch_size:,} per transaction (same database, same run)")
    for line in (header, *rows):
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                                  strict=True))))
    for r in results:
        print(f"  {r.backend} x{r.workers}: {r.consents:,} consents registered first ({args.consents}"
              f"{', then the service restarted' if args.restart else ', by the same service'}; set-up "
              f"{r.setup_seconds:.1f} s, not measured); raw payload {r.payload_bytes} bytes per row; "
              "db floor per record: " + ", ".join(f"{name} {us:.0f} us" for name, us in r.floor_us.items()))
    print("db floor: the same database writing only what ingestion writes for these records (the record rows "
          "and the batches' cell upserts, one transaction per batch), without the service: no ingestion is faster")
    print("service CPU: user + system seconds of the service's processes while the batches were sent, per record "
          "(the database server's own CPU not included on PostgreSQL); steadier than records/s on a shared machine")
    print(GOAL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--records", type=int, default=20_000, help="records to send (default 20,000)")
    parser.add_argument("--batch-size", type=int, default=1_000, help="records per batch (default 1,000)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="clients sending at once (default 1; with several workers, as many as workers)")
    parser.add_argument("--workers", type=int, default=4,
                        help="PostgreSQL: also run `ttp serve --workers N` on a fresh database (default 4; 1: skip)")
    parser.add_argument("--seed", type=int, default=2025, help="demo population seed")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres-url", help="a PostgreSQL server to use (a fresh database is made on it); "
                                               "default: a throwaway cluster when a server binary is found")
    parser.add_argument("--consent-workers", type=int, default=8, help="parallel consent registrations (set-up)")
    parser.add_argument("--consents", choices=("batch", "one"), default="batch",
                        help="set-up: register consents with POST /v1/consents/batches, 1,000 per request, as "
                             "`ttp submit` does (default), or one by one with POST /v1/consents")
    parser.add_argument("--restart", action="store_true",
                        help="restart the service between registering the consents and sending the records, so "
                             "that it opens every consent (default: the same service, as `ttp submit` does)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = parser.parse_args(argv)
    if args.records < 1 or not 1 <= args.batch_size <= 10_000:
        parser.error("--records must be at least 1 and --batch-size from 1 to 10,000")
    if args.workers < 1 or (args.concurrency is not None and args.concurrency < 1):
        parser.error("--workers and --concurrency must be at least 1")

    results: list[Result] = []
    single = args.concurrency or 1
    if args.backend in ("sqlite", "both"):  # one process: SQLite has one writer, `serve --workers` refuses it
        results.append(run_backend("sqlite", None, args, concurrency=single))
    if args.backend in ("postgresql", "both"):
        with postgres_server(args) as server:
            if server is None:
                print("postgresql: skipped (no PostgreSQL server binary found and no --postgres-url)")
            else:
                with postgres_database(server) as url:
                    results.append(run_backend("postgresql", url, args, concurrency=single))
                if args.workers > 1:
                    with postgres_database(server) as url:
                        results.append(run_backend("postgresql", url, args, workers=args.workers,
                                                   concurrency=args.concurrency or args.workers))
    print_table(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
