"""End to end: `ttp serve` as a real uvicorn process, `ttp clients add --json`, a token, a call."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from app.settings import EXAMPLE_PRIVACY_CONFIG

TTP = [sys.executable, "-m", "app.cli"]
# Waits end on a signal (the server is ready, the process exited, a report came); this ceiling is
# only there so that a hung run still ends. A slow machine never gets near it.
CEILING = 15 * 60
# Calls to the served app: a busy machine (or the server protecting a region in the background)
# may take longer than httpx's default 5 s to answer; that is slow, not wrong.
http = httpx.Client(timeout=CEILING)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    # A smaller first run than a newcomer's 5,000 demo records (TTP_DEMO_RECORDS): its releases are
    # published in about 20 s instead of 100 s, and Amsterdam's still shows published cells.
    env.update({"TTP_DATA_DIR": str(tmp_path / "var"), "TTP_DATABASE_URL": database_url,
                "TTP_LOG_LEVEL": "WARNING", "TTP_DEMO_RECORDS": "1200"})
    return env


def ttp(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TTP, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=CEILING)


class PortTaken(Exception):
    """Another process (another test run on this machine) took the port between free_port and bind."""


def start_server(environment: dict[str, str], logs: Path, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """`ttp serve` on a free port, once it answers /readyz; fails as soon as the process exits.

    The first run migrates and seeds the demo data before it listens, which takes as long as the
    machine needs: the wait ends when the server is ready or the process is gone, not at a deadline.
    """
    port = free_port()
    out, err = logs / f"serve-{port}.out", logs / f"serve-{port}.err"
    # Output to files, not pipes: a pipe nobody reads would block a talkative server.
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen([*TTP, "serve", "--port", str(port), *options], env=environment,
                                   stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while process.poll() is None:
        try:
            if httpx.get(f"{base}/readyz", timeout=30).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if time.monotonic() - started > CEILING:
            stop(process)
            raise AssertionError(f"ttp serve neither became ready nor exited in {CEILING} s")
        time.sleep(0.2)
    message = err.read_text(errors="replace")
    if "address already in use" in message.lower():
        raise PortTaken(message)
    raise AssertionError(f"ttp serve exited with {process.returncode}: {message}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def server(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    for attempt in range(5):
        try:
            process, base = start_server(environment, tmp_path)
            break
        except PortTaken:
            if attempt == 4:
                raise
    try:
        yield base
    finally:
        stop(process)


@pytest.mark.slow
def test_serve_then_client_token_and_authenticated_call(server: str, environment: dict[str, str]) -> None:
    # ttp serve made a first admin client (and demo clients) and wrote where to find them.
    first_run = Path(environment["TTP_DATA_DIR"]) / "first-run.json"
    made = json.loads(first_run.read_text())
    assert made["admin"]["client_id"].startswith("admi-")
    assert made["municipality"]["org_id"] == "GM0363"
    assert first_run.stat().st_mode & 0o777 == 0o600
    admin = http.post(f"{server}/v1/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(made["admin"]["client_id"], made["admin"]["client_secret"]))
    assert admin.status_code == 200

    # the README's report examples: Amsterdam's own report, and Friesland's as Leeuwarden reads it
    # (the first run publishes the demo's releases in the background right after start: until a
    # period's release exists its report answers 409 not-yet-published, "being prepared")
    year = str(date.today().year - 1)
    shown: list[dict[str, object]] = []
    for who, path in (("municipality", f"/v1/reports/municipalities/GM0363?period={year}&by=provider"),
                      ("region_member", f"/v1/reports/regions/friesland?period={year}&by=municipality")):
        token = http.post(f"{server}/v1/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(made[who]["client_id"], made[who]["client_secret"])).json()["access_token"]
        started = time.monotonic()  # ask again while it is being prepared; CEILING only ends a hung run
        while True:
            report = http.get(f"{server}{path}", headers={"Authorization": f"Bearer {token}"})
            if report.status_code != 409 or time.monotonic() - started > CEILING:
                break
            assert report.json()["type"] == "urn:outcome-ttp:problem:not-yet-published"
            assert "is being prepared" in report.json()["detail"]
            time.sleep(2)
        assert report.status_code == 200, report.text
        assert report.json()["cells"]
        shown.extend(report.json()["cells"])
    # (the small demo's Friesland by municipality is all withheld; Amsterdam publishes some)
    assert any(c["suppressed"] for c in shown) and any(not c["suppressed"] for c in shown)

    made = ttp(environment, "clients", "add", "--org-type", "privacy_officer", "--org-id", "TTP",
               "--name", "FG", "--json")
    assert made.returncode == 0, made.stderr
    client = json.loads(made.stdout)
    assert client["scopes"] == ["audit:read", "privacy:read"]

    token = http.post(f"{server}/v1/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(client["client_id"], client["client_secret"]))
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    configuration = http.get(f"{server}/v1/privacy/configuration", headers=bearer)
    assert configuration.status_code == 200
    assert configuration.headers["api-version"]
    assert http.get(f"{server}/v1/openapi.json/").status_code == 404

    verified = ttp(environment, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    # The demo data went through the real ingestion path: the aggregate store matches the records.
    store = ttp(environment, "verify")
    assert store.returncode == 0, store.stderr
    # (5,000 demo records, less those past retention: the service purged them at start)
    assert store.stdout.startswith("aggregate store matches: ") and " 0 records" not in store.stdout


def release_workers(pid: int) -> list[int]:
    """The publication's worker processes (multiprocessing spawn) among a process's children."""
    found = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            try:
                if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
            except FileNotFoundError:
                pass
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status  # a zombie has ended; only its exit status waits to be read


@pytest.mark.slow
def test_an_idle_connection_outlives_the_clients_own_keep_alive(server: str) -> None:
    # A client closes an idle pooled connection itself after its keep-alive expiry (httpx: 5 s).
    # When the server closed it at the same moment (uvicorn's default is also 5 s), a request sent
    # just then met a closed socket: "Connection reset by peer", a batch lost in transit under load.
    # So the server keeps an idle connection longer than the client would: a request on the same
    # connection after the client's expiry (and a second more) is still answered.
    idle = httpx.Limits().keepalive_expiry or 5.0
    host, port = server.removeprefix("http://").split(":")
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=CEILING) as connection:
        for _ in range(2):
            connection.sendall(request)
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = connection.recv(65536)
                assert chunk, "the server closed the idle connection"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200"), answer[:80]
            headers, _, body = answer.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in headers.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            while len(body) < length:
                body += connection.recv(65536)
            time.sleep(idle + 1)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc")
def test_a_killed_service_leaves_no_release_worker_running(environment: dict[str, str], tmp_path: Path) -> None:
    # ttp serve publishes the demo's releases at start in worker processes. Killed with SIGKILL
    # (the OOM killer, a pod eviction), it cannot shut them down: before, they went on protecting
    # families nobody would store, for minutes, beside the restarted service.
    process, _ = start_server(environment, tmp_path)
    try:
        started = time.monotonic()
        while not (workers := release_workers(process.pid)):
            assert process.poll() is None, "ttp serve exited"
            assert time.monotonic() - started < CEILING, "the publication at start never started its workers"
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    # A worker checks its parent twice a second; two minutes leave a loaded machine ample room,
    # while the workers it guards against run on for as long as the publication (or forever idle).
    killed = time.monotonic()
    while left := [pid for pid in workers if alive(pid)]:
        assert time.monotonic() - killed < 120, f"{len(left)} release workers still run after the service was killed"
        time.sleep(0.1)


@pytest.mark.slow
def test_clients_add_refuses_bad_input(environment: dict[str, str]) -> None:
    assert ttp(environment, "db", "upgrade").returncode == 0
    bad = ttp(environment, "clients", "add", "--org-type", "provider", "--org-id", "123", "--name", "x", "--json")
    assert bad.returncode == 2
    assert "org_id: a provider is identified by its AGB code: 8 digits" in bad.stderr


@pytest.mark.slow
def test_commands_on_a_database_without_the_schema_say_to_run_db_upgrade(tmp_path: Path) -> None:
    # A newcomer's fresh data dir (SQLite): no traceback, one line naming the fix, exit 2.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_DATA_DIR": str(tmp_path / "var"), "TTP_LOG_LEVEL": "WARNING"})
    add_admin = ("clients", "add", "--org-type", "admin", "--org-id", "TTP", "--name", "x", "--json")
    for command in (("demo", "seed", "--records", "10"), add_admin, ("verify",), ("audit", "verify")):
        result = ttp(env, *command)
        assert (result.returncode, result.stderr) == (
            2, "ttp: the database has no schema yet: run `ttp db upgrade`\n"), command

    assert ttp(env, "db", "upgrade").returncode == 0
    made = ttp(env, *add_admin)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["org_type"] == "admin"


def test_commands_on_a_database_behind_the_migrations_say_to_run_db_upgrade(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    from app import db

    script = ScriptDirectory(str(db.MIGRATIONS_DIR))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    db.upgrade(f"sqlite:///{tmp_path / 'var' / 'ttp.sqlite3'}", previous)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_DATA_DIR": str(tmp_path / "var"), "TTP_LOG_LEVEL": "WARNING"})
    result = ttp(env, "verify")
    assert (result.returncode, result.stderr) == (
        2, f"ttp: the database is at migration {previous}, this version needs {head}: run `ttp db upgrade`\n")


def test_serve_with_workers_refuses_an_unsafe_start_in_one_line(tmp_path: Path, database_url: str) -> None:
    """Production without keys: `ttp serve --workers 2` says why once and exits, instead of every
    worker process printing a traceback while uvicorn restarts them."""
    if database_url.startswith("sqlite"):
        pytest.skip("--workers above 1 needs PostgreSQL (SQLite's refusal is its own test)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_ENV": "production", "TTP_DATA_DIR": str(tmp_path / "var"), "TTP_DATABASE_URL": database_url,
                "TTP_KEY_DIR": str(tmp_path / "no-keys"), "TTP_PRIVACY_CONFIG": str(EXAMPLE_PRIVACY_CONFIG)})
    refused = ttp(env, "serve", "--workers", "2", "--port", str(free_port()))
    assert refused.returncode != 0
    assert "refusing to start" in refused.stderr and "ttp keys init" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_serve_in_production_on_a_database_without_the_schema_says_to_run_db_upgrade(tmp_path: Path) -> None:
    """Production never migrates on start: on an empty database `ttp serve` says what to run and
    exits, instead of a traceback about a missing table."""
    from app.crypto.keyring import Keyring

    Keyring.create(tmp_path / "keys", origin="production")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_ENV": "production", "TTP_DATA_DIR": str(tmp_path / "var"),
                "TTP_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3", "TTP_KEY_DIR": str(tmp_path / "keys"),
                "TTP_PRIVACY_CONFIG": str(EXAMPLE_PRIVACY_CONFIG)})
    refused = ttp(env, "serve", "--port", str(free_port()))
    assert refused.returncode == 2, refused.stderr
    assert "ttp db upgrade" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
