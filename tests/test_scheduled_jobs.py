"""Each periodic job runs once per period across every process, under load (issue 14).

Four processes run the schedule on one database: `ttp serve --workers 4` on PostgreSQL; on SQLite
(one API process only) `ttp serve` and three `ttp worker`s. The periods are two seconds long
(the ``TTP_*_INTERVAL_SECONDS`` settings), so a test sees many of them. While providers upload
and municipalities read, the test waits until each job has run in several periods, then counts
the ``job.run`` audit entries: one per job and period, never two, and no request answered 5xx.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from app.models import AuditEntry
from tests.test_cli_service import CEILING, TTP, PortTaken, start_server, stop, ttp
from tests.test_records_api import Population

JOBS = ("maintenance", "releases", "audit-checkpoint")
PERIODS = 4  # periods each job must have run in before the count
PERIOD_SECONDS = 2


def job_runs(database_url: str) -> list[tuple[str, str, int]]:
    """(job, period start, holder pid) of every ``job.run`` entry."""
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            details = connection.execute(select(AuditEntry.detail).where(AuditEntry.action == "job.run")).scalars()
            return [(d["job"], d["period_start"], d["holder_pid"]) for d in details]
    finally:
        engine.dispose()


def server_log(logs: Path, lines: int = 30) -> str:
    """The last lines the server and the workers wrote, for a failure's message (without the demo
    accounts' passwords and TOTP secrets that the first start prints)."""
    return "\n".join(f"{path.name}: {line}" for path in sorted(logs.glob("*.err"))
                     for line in path.read_text(errors="replace").splitlines()[-lines:]
                     if not any(word in line.lower() for word in ("password", "secret")))


@pytest.mark.slow
def test_four_processes_under_load_run_each_periodic_job_once_per_period(
    tmp_path: Path, database_url: str
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_DATA_DIR": str(tmp_path / "var"), "TTP_DATABASE_URL": database_url, "TTP_LOG_LEVEL": "WARNING",
                "TTP_DEMO_RECORDS": "0", "TTP_RELEASE_INTERVAL_SECONDS": str(PERIOD_SECONDS),
                "TTP_HOUSEKEEPING_INTERVAL_SECONDS": str(PERIOD_SECONDS),
                "TTP_CHECKPOINT_INTERVAL_SECONDS": str(PERIOD_SECONDS)})
    postgres = not database_url.startswith("sqlite")
    logs = tmp_path / "logs"
    logs.mkdir()
    for attempt in range(5):
        try:
            server, base = start_server(env, logs, *(("--workers", "4") if postgres else ()))
            break
        except PortTaken:
            if attempt == 4:
                raise
    workers: list[subprocess.Popen[bytes]] = []
    if not postgres:  # SQLite serves from one process; three `ttp worker`s run the schedule beside it
        workers = [subprocess.Popen([*TTP, "worker"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=(logs / f"worker-{i}.err").open("wb")) for i in range(3)]
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    stop_load = threading.Event()
    try:
        made = json.loads((tmp_path / "var" / "first-run.json").read_text())
        def token(client_id: str, secret: str, http: httpx.Client) -> dict[str, str]:
            answer = http.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
            assert answer.status_code == 200, answer.text
            return {"Authorization": f"Bearer {answer.json()['access_token']}"}

        with httpx.Client(base_url=base, timeout=CEILING) as http:  # the provider client, made by the admin
            admin = token(made["admin"]["client_id"], made["admin"]["client_secret"], http)
            provider = http.post("/v1/clients", json={"org_type": "provider", "org_id": "40000001", "name": "load"},
                                 headers=admin)
            assert provider.status_code == 201, provider.text
            provider_client = provider.json()

        def count(response: httpx.Response) -> None:
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{response.request.method} {response.request.url.path}: {response.status_code}")

        def read() -> None:
            year = str(date.today().year - 1)
            with httpx.Client(base_url=base, timeout=CEILING) as http:
                headers = token(made["municipality"]["client_id"], made["municipality"]["client_secret"], http)
                while not stop_load.is_set():
                    for fmt in ("application/json", "text/csv"):
                        count(http.get("/v1/reports/municipalities/GM0363", params={"period": year, "by": "provider"},
                                       headers={**headers, "Accept": fmt}))
                    count(http.get("/healthz"))

        def upload(first: int) -> None:
            with httpx.Client(base_url=base, timeout=CEILING) as http:
                headers = token(provider_client["client_id"], provider_client["client_secret"], http)
                people = Population(http, headers)
                ended = {"start_date": (date.today() - timedelta(days=200)).isoformat(),
                         "end_date": (date.today() - timedelta(days=100)).isoformat()}
                n = first
                while not stop_load.is_set():
                    records = [people.record(n + i, **ended) for i in range(10)]
                    n += 10
                    count(http.post("/v1/records/batches", json={"records": records}, headers=headers))

        def guarded(target, *args) -> None:  # a load thread's failure fails the test, not just the thread
            try:
                target(*args)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{target.__name__}, {time.monotonic() - started:.1f} s into the load: {exc!r}")

        load = [threading.Thread(target=guarded, args=(read,)) for _ in range(6)]
        load += [threading.Thread(target=guarded, args=(upload, k * 100_000)) for k in range(2)]
        started, load_started = time.monotonic(), datetime.now(UTC).isoformat()
        for thread in load:
            thread.start()
        try:
            # readiness: until every job ran in PERIODS periods under load and more than one process
            # took a period (or a process died). Which process wakes first at a period's start is a
            # race; the worker processes take seconds to start on a busy machine, and until then the
            # first process up wins every period.
            while True:
                assert server.poll() is None, "the server exited"
                for worker in workers:
                    assert worker.poll() is None, "a worker exited"
                assert not failures, (failures[:5], server_log(logs))
                runs = job_runs(database_url)
                ran = Counter(job for job, period, _ in runs if period > load_started)
                holders = {pid for _, _, pid in runs}
                if all(ran[job] >= PERIODS for job in JOBS) and statuses[200] >= 10 and len(holders) >= 2:
                    break
                assert time.monotonic() - started < CEILING, f"the jobs ran only {dict(ran)}"
                time.sleep(0.5)
        finally:
            stop_load.set()
            for thread in load:
                thread.join()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=CEILING)
        stop(server)

    runs = job_runs(database_url)
    per_period = Counter((job, period) for job, period, _ in runs)
    twice = {key: n for key, n in per_period.items() if n > 1}
    assert not twice, f"a job ran more than once in a period: {twice}"
    for job in JOBS:
        assert sum(1 for j, _ in per_period if j == job) >= PERIODS, job
    # several processes took part: the period went to whichever woke first
    assert len({pid for _, _, pid in runs}) >= 2, runs
    assert not failures and statuses[200] > 0, (failures[:5], statuses, server_log(logs))
    assert all(status < 500 for status in statuses), statuses
    verified = ttp(env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
