"""Hardening (issue 15): no 5xx for any input, both databases alike, nothing personal in any log.

Every bad input here is answered with a 400/413/415 problem that names the field at fault, and
nothing is stored. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import InternalError

from app.models import Client, ConsentRecord, OutcomeRecord, ProviderNote
from app.observability import ALLOWED_LOG_FIELDS
from app.openapi_document import PATH as OPENAPI_PATH
from app.openapi_document import document
from app.records.schemas import EXAMPLE_RECORDS, csv_columns
from app.settings import REPO_ROOT
from pseudonymisation import generate_key, pseudonymise_bsn
from tests.test_cli_service import CEILING, start_server, stop
from tests.test_http_conventions import assert_problem
from tests.test_records_api import Population, post

PROVIDER = "40000001"
PROVIDER_KEY = generate_key("v1")
STAGE1 = pseudonymise_bsn("111222333", PROVIDER_KEY)


@pytest.fixture
def provider(token_for):
    return token_for("provider", PROVIDER)


@pytest.fixture
def admin(token_for):
    return token_for("admin", "TTP")


def stored(app, table) -> int:
    with app.state.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


def record(**changes: Any) -> dict[str, Any]:
    item = copy.deepcopy(EXAMPLE_RECORDS["jeugdhulp"])
    item.update(pseudonym=STAGE1, consent_id="cns-abcdefghijklmnop", start_date="2025-01-06", end_date="2025-06-20")
    item.update(changes)
    return item


def consent(**changes: Any) -> dict[str, Any]:
    body = {
        "consent_ref": "dossier-1", "pseudonym": STAGE1, "given_by": "youth", "age_at_consent": 16,
        "purpose": "outcome-monitoring", "municipalities": ["GM0363"],
        "given_at": (date.today() - timedelta(days=30)).isoformat(), "valid_until": None,
    }
    body.update(changes)
    return body


def raw_records(*items: str) -> bytes:
    return ('{"records": [' + ",".join(items) + "]}").encode()


def record_text(**raw: str) -> str:
    """A record as JSON text, with some values replaced by raw JSON text (huge literals, escapes)."""
    item = record(**{name: f"__{name}__" for name in raw})
    text = json.dumps(item)
    for name, value in raw.items():
        text = text.replace(f'"__{name}__"', value)
    return text


def goals_text(weight: str) -> str:
    item = record()
    item["outcomes"]["goals"] = [{"score": 1, "weight": "__w__"}]
    return json.dumps(item).replace('"__w__"', weight)


def jr(**outcomes: Any) -> dict[str, Any]:
    item = copy.deepcopy(EXAMPLE_RECORDS["jeugdreclassering"])
    item.update(pseudonym=STAGE1, consent_id="cns-abcdefghijklmnop")
    item["outcomes"].update(outcomes)
    return item


def csv_body(**cells: str) -> bytes:
    columns = csv_columns("jeugdhulp")
    example = record()
    flat = {
        "record_id": example["record_id"], "framework": "jeugdhulp", "pseudonym": STAGE1,
        "consent_id": example["consent_id"], "municipality": "GM0363", "start_date": "2025-01-06",
        "end_date": "2025-06-20", "end_reason": "01", "hulpvorm": "02",
    }
    flat.update(cells)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerow([flat.get(c, "") for c in columns])
    return buffer.getvalue().encode("utf-8", "surrogatepass")


DEEP = 100_000
HUGE_INT = "9" * 5000

# (id, body, content type, the field the answer must name)
RECORD_CASES: list[tuple[str, bytes, str, str]] = [
    ("deep-nesting", ('{"records": [' + "[" * DEEP + "]" * DEEP + "]}").encode(), "application/json", "body"),
    ("deep-nesting-in-a-field", raw_records(record_text(sex="[" * DEEP + "]" * DEEP)), "application/json", "body"),
    ("huge-integer-literal", raw_records(record_text(referrer=HUGE_INT)), "application/json", "body"),
    ("tiny-goal-weight", raw_records(goals_text("5e-324")), "application/json", "outcomes.goals[0].weight"),
    ("huge-goal-weight", raw_records(goals_text("1e308")), "application/json", "outcomes.goals[0].weight"),
    ("huge-lij-risk", json.dumps({"records": [jr(lij_risk={"start": 10**100, "end": 3})]}).encode(),
     "application/json", "outcomes.lij_risk.start"),
    ("lone-surrogate-consent-id", raw_records(record_text(consent_id='"cns-\\ud800abcdefghijk"')),
     "application/json", "consent_id"),
    ("nul-consent-id", json.dumps({"records": [record(consent_id="cns-abc\x00defghijklm")]}).encode(),
     "application/json", "consent_id"),
    ("year-one", json.dumps({"records": [record(start_date="0001-04-01", end_date="0001-05-01")]}).encode(),
     "application/json", "start_date"),
    ("year-1900", json.dumps({"records": [record(start_date="1900-04-01", end_date="1900-05-01")]}).encode(),
     "application/json", "start_date"),
    ("before-the-jeugdwet", json.dumps({"records": [record(start_date="2014-12-31")]}).encode(),
     "application/json", "start_date"),
    ("huge-rom-score", json.dumps({"records": [record(outcomes={"rom": {"instrument": "CBCL", "pre": 1e300,
                                                                         "post": 50}})]}).encode(),
     "application/json", "outcomes.rom.pre"),
    ("csv-huge-cell", csv_body(consent_id="x" * 200_000), "text/csv", "consent_id"),
    ("csv-huge-header", b"x" * 200_000 + b"\r\n", "text/csv", "header"),
    ("csv-nul-consent-id", csv_body(consent_id="cns-abc\x00defghijklm"), "text/csv", "consent_id"),
    ("csv-lone-surrogate", csv_body(consent_id="cns-\ud800abcdefghijk"), "text/csv", "body"),
    ("csv-huge-integer", csv_body(**{"outcomes.satisfaction.mark": HUGE_INT,
                                     "outcomes.satisfaction.informant": "youth"}),
     "text/csv", "outcomes.satisfaction.mark"),
    ("csv-tiny-weight", csv_body(**{"outcomes.goals[0].score": "1", "outcomes.goals[0].weight": "0,0000001"}),
     "text/csv", "outcomes.goals[0].weight"),
    ("csv-empty", b"", "text/csv", "header"),
]


@pytest.mark.parametrize(("body", "content_type", "field"), [c[1:] for c in RECORD_CASES],
                         ids=[c[0] for c in RECORD_CASES])
def test_bad_record_batches_are_400_naming_the_field(api, app, provider, body, content_type, field) -> None:
    response = api.post("/v1/records/batches", content=body, headers={**provider, "Content-Type": content_type})
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stored(app, OutcomeRecord) == 0


CONSENT_CASES: list[tuple[str, bytes, str]] = [
    ("deep-nesting", b'{"consent_ref": ' + b"[" * DEEP + b"]" * DEEP + b"}", "body"),
    ("huge-integer-literal", json.dumps(consent(age_at_consent="__age__")).replace('"__age__"', HUGE_INT).encode(),
     "body"),
    ("huge-age", json.dumps(consent(age_at_consent=10**100)).encode(), "age_at_consent"),
    ("nul-consent-ref", json.dumps(consent(consent_ref="dossier\x001")).encode(), "consent_ref"),
    ("lone-surrogate-consent-ref", json.dumps(consent()).replace('"dossier-1"', '"dossier-\\udc00"').encode(),
     "consent_ref"),
    ("lone-surrogate-pseudonym", json.dumps(consent(pseudonym="__p__")).replace('"__p__"', '"p1.\\ud800"').encode(),
     "pseudonym"),
    ("given-in-year-one", json.dumps(consent(given_at="0001-01-01")).encode(), "given_at"),
    ("valid-until-year-9999", json.dumps(consent(valid_until="9999-12-31")).encode(), "valid_until"),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in CONSENT_CASES], ids=[c[0] for c in CONSENT_CASES])
def test_bad_consents_are_400_naming_the_field(api, app, provider, body, field) -> None:
    response = api.post("/v1/consents", content=body, headers={**provider, "Content-Type": "application/json"})
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stored(app, ConsentRecord) == 0


CLIENT_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("nul-in-name", {"name": "Jeugdzorg\x00", "org_type": "provider", "org_id": "12345678"}, "name"),
    ("newline-after-agb", {"name": "Jeugdzorg", "org_type": "provider", "org_id": "12345678\n"}, "org_id"),
    ("newline-after-gm", {"name": "Gemeente", "org_type": "municipality", "org_id": "GM0363\n"}, "org_id"),
    ("lone-surrogate-name", {"name": "__n__", "org_type": "provider", "org_id": "12345678"}, "name"),
]


@pytest.mark.parametrize(("body", "field"), [c[1:] for c in CLIENT_CASES], ids=[c[0] for c in CLIENT_CASES])
def test_bad_clients_are_400_naming_the_field(api, app, admin, body, field) -> None:
    before = stored(app, Client)
    content = json.dumps(body).replace('"__n__"', '"Jeugd\\ud800zorg"').encode()
    response = api.post("/v1/clients", content=content, headers={**admin, "Content-Type": "application/json"})
    problem = assert_problem(response, 400)
    assert field in [e["field"] for e in problem["errors"]], problem
    assert stored(app, Client) == before


def test_audit_time_filters_take_iso_8601_only(api, token_for) -> None:
    officer = token_for("privacy_officer", "TTP")
    for value in ("0.5", "1700000000"):
        problem = assert_problem(api.get("/v1/audit/entries", params={"to": value}, headers=officer), 400)
        assert [e["field"] for e in problem["errors"]] == ["query.to"]
    assert api.get("/v1/audit/entries", params={"to": "2025-01-01T00:00:00Z"}, headers=officer).status_code == 200


def test_options_lists_every_method_of_the_path(api) -> None:
    response = api.options("/v1/clients")
    assert_problem(response, 405)
    assert sorted(m.strip() for m in response.headers["allow"].split(",")) == ["GET", "POST"]


# ---- the OpenAPI document ---------------------------------------------------------------------
def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_openapi_document_is_valid_and_every_ref_resolves(app) -> None:  # type: ignore[no-untyped-def]
    from openapi_spec_validator import validate

    served = document(app)
    committed = json.loads(OPENAPI_PATH.read_text())
    for spec in (served, committed):
        validate(spec)  # OpenAPI 3.1 structure; it does not follow $refs inside schemas, so:
        refs = _refs(spec)
        assert refs
        for ref in refs:
            _resolve(spec, ref)
    body = served["paths"]["/v1/records/batches"]["post"]["requestBody"]["content"]
    batch = _resolve(served, body["application/json"]["schema"]["$ref"])
    assert batch["properties"]["records"]["maxItems"] == 10_000
    assert body["text/csv"]["schema"]["minLength"] > 0  # an empty CSV is not a valid body
    record = _resolve(served, "#/components/schemas/JeugdhulpRecord")["properties"]
    assert record["start_date"]["pattern"].startswith("^20(1[5-9]")
    goal = _resolve(served, "#/components/schemas/Goal")["properties"]["weight"]
    assert (goal["minimum"], goal["maximum"]) == (0.01, 100)
    risk = _resolve(served, "#/components/schemas/LijRisk")["properties"]["start"]
    assert (risk["minimum"], risk["maximum"]) == (0, 999)


# ---- nothing personal in any log ----------------------------------------------------------------
ALLOWED_LOG_KEYS = {"time", "level", "logger", "message", *ALLOWED_LOG_FIELDS}
LEAKS = ("p1.v", "p2.v", "scrypt$", "[parameters", "[SQL:", "Traceback", "given_by", "youth", "GM0363")
#: the consent's age (16) as a statement value or a JSON field would show it; not the end of a
#: number such as a request's ``"duration_ms": 43.16,`` (which once failed this check by chance)
AGE = re.compile(r"(?<![\d.])16,")


def assert_clean_output(text: str) -> None:
    """Every line is a JSON log line with allowed keys only, and nothing personal or secret."""
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} in the output:\n{text[-3000:]}"
    assert not AGE.search(text), f"the age in the output:\n{text[-3000:]}"
    for line in text.splitlines():
        if line.startswith("ttp: "):  # a command's own one-line message on stderr
            continue
        doc = json.loads(line)
        assert set(doc) <= ALLOWED_LOG_KEYS, line


def test_the_leak_check_tells_an_age_from_the_end_of_a_duration() -> None:
    timing = '{"time": "t", "level": "info", "logger": "ttp.http", "message": "r", "duration_ms": 43.16, "status": 500}'
    assert_clean_output(timing + "\n")
    for leaked in ('{"message": "x", "age_at_consent": 16, "level": "e"}', "[parameters: ('a', 16, 'b')]"):
        with pytest.raises(AssertionError):
            assert_clean_output(leaked + "\n")


def _environment(settings, database_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update(TTP_ENV="development", TTP_DATA_DIR=str(settings.data_dir), TTP_DATABASE_URL=database_url,
               TTP_KEY_DIR=str(settings.key_dir), TTP_PRIVACY_CONFIG=str(settings.privacy_config))
    return env


def _rename_column(database_url: str, table: str, column: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {table} RENAME COLUMN {column} TO {column}_gone"))
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_database_error_in_the_server_logs_nothing_personal(settings, database_url, make_client, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real `ttp serve` (uvicorn) meets a database error while storing a consent: the answer is a
    500 problem, and stderr holds JSON log lines only: no traceback, no statement values."""
    credentials = make_client("provider", PROVIDER)  # any client: `ttp serve` then skips the demo data
    _rename_column(database_url, "consents", "sealed")  # every INSERT of a consent now fails
    server, base = start_server(_environment(settings, database_url), tmp_path)  # waits on readiness
    try:
        token = httpx.post(f"{base}/v1/oauth/token", data={"grant_type": "client_credentials"},
                           auth=(credentials.client_id, credentials.client_secret), timeout=CEILING).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        response = httpx.post(f"{base}/v1/consents", json=consent(), headers=headers, timeout=CEILING)
        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    finally:
        stop(server)
    output = "".join(log.read_text() for log in tmp_path.glob("serve-*.*"))
    assert '"error_type"' in output  # the error was logged, by its type
    assert_clean_output(output)


def _ttp(settings, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          env=_environment(settings, database_url), timeout=120)


@pytest.mark.slow
def test_clients_add_on_an_unmigrated_database_says_so(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    done = _ttp(settings, empty, "clients", "add", "--org-type", "provider", "--org-id", PROVIDER, "--name", "x")
    assert done.returncode == 2, done.stderr
    assert "ttp db upgrade" in done.stderr and not done.stdout
    assert_clean_output(done.stderr)


@pytest.mark.slow
def test_a_database_error_in_clients_add_prints_no_secret_hash(settings, database_url) -> None:  # type: ignore[no-untyped-def]
    _rename_column(database_url, "clients", "org_type")  # the INSERT of the new client fails
    done = _ttp(settings, database_url, "clients", "add", "--org-type", "provider", "--org-id", PROVIDER,
                "--name", "Jeugdzorg", "--json")
    assert done.returncode == 1, done.stderr
    assert not done.stdout  # no client was made, so no secret is shown
    assert '"error_type"' in done.stderr
    assert_clean_output(done.stderr)


# ---- both databases alike: concurrent changes of the same thing ----------------------------------
def _at_once(count: int, call) -> list[Any]:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_registrations_of_one_consent_ref_are_one_201_and_409s(api, app, provider) -> None:  # type: ignore[no-untyped-def]
    body = consent(consent_ref="dossier-race")
    statuses = sorted(r.status_code for r in _at_once(10, lambda: api.post("/v1/consents", json=body,
                                                                            headers=provider)))
    assert statuses == [201] + [409] * 9
    assert stored(app, ConsentRecord) == 1


def test_concurrent_notes_for_one_cell_are_stored_once(api, app, provider) -> None:  # type: ignore[no-untyped-def]
    people = Population(api, provider)  # a story only where the provider has records
    assert post(api, provider, [people.record(0)]).status_code == 200

    def note(n: int):  # type: ignore[no-untyped-def]
        return api.post("/v1/notes", json={"municipality": "GM0363", "period": "2025-Q1", "text": f"Versie {n}"},
                        headers=provider)

    counter = iter(range(100))
    responses = _at_once(8, lambda: note(next(counter)))
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    assert 201 in {r.status_code for r in responses}
    assert stored(app, ProviderNote) == 1


def test_a_nul_in_a_consent_ref_is_refused_alike(api, app, provider) -> None:  # type: ignore[no-untyped-def]
    for ref in ("dossier\x00", "dossier\x00", "\x00"):
        problem = assert_problem(api.post("/v1/consents", json=consent(consent_ref=ref), headers=provider), 400)
        assert [e["field"] for e in problem["errors"]] == ["consent_ref"]
    assert stored(app, ConsentRecord) == 0


# ---- the token endpoint --------------------------------------------------------------------------
class _ScryptProbe:
    """Counts scrypt runs and the most that ran at once."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real, self.calls, self.running, self.most = real, 0, 0, 0
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.02)
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unknown_client_costs_what_a_wrong_secret_costs(app, make_client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from app.auth import clients

    known = make_client("provider", PROVIDER)
    probe = _ScryptProbe(clients.hashlib.scrypt)
    monkeypatch.setattr(clients.hashlib, "scrypt", probe)
    runs = {}
    for name, client_id in (("unknown", "prov-0000000000000000"), ("wrong secret", known.client_id)):
        probe.calls = 0
        with app.state.runtime.sessions() as session, pytest.raises(clients.AuthenticationFailed):
            clients.authenticate_with_secret(session, client_id, "not-the-secret")
        runs[name] = probe.calls
    assert runs == {"unknown": 1, "wrong secret": 1}


def test_concurrent_secret_checks_run_few_scrypts_at_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Token requests check secrets in the server's thread pool (40 threads, and on PostgreSQL
    nothing else serialises them); each scrypt run holds 32 MiB, so few may run at once."""
    from app.auth import clients

    stored_hash = clients.hash_secret("the-secret")
    probe = _ScryptProbe(clients.hashlib.scrypt)
    monkeypatch.setattr(clients.hashlib, "scrypt", probe)
    results = _at_once(24, lambda: clients.verify_secret("the-secret", stored_hash))
    assert results == [True] * 24 and probe.calls == 24
    assert probe.most <= clients.SCRYPT_AT_ONCE


# ---- development keys: one set, whoever starts first -----------------------------------------
_ENSURE_KEYS = """
import json, sys
from pathlib import Path
from app.crypto.keyring import Keyring
print("ready", flush=True)
go = Path(sys.argv[2])
while not go.exists():
    pass
ring = Keyring.ensure_development(Path(sys.argv[1]))
print(json.dumps(ring.active))
"""


def test_workers_starting_at_once_make_one_set_of_development_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    directory, go = tmp_path / "data" / "keys", tmp_path / "go"
    workers = [subprocess.Popen([sys.executable, "-c", _ENSURE_KEYS, str(directory), str(go)], cwd=REPO_ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    # A barrier, not a clock: every worker has imported and is spinning before any may start.
    assert all(worker.stdout is not None and worker.stdout.readline() == "ready\n" for worker in workers)
    go.touch()
    results = [worker.communicate(timeout=CEILING) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in results]
    actives = [json.loads(out) for out, _ in results]
    assert all(active == actives[0] for active in actives)
    for purpose in ("token-signing", "kek", "pseudonym", "audit-signing"):
        assert len(list((directory / purpose).iterdir())) == 1, purpose


def test_the_sqlite_database_is_private_like_the_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from app import db

    data_dir = tmp_path / "fresh" / "var"
    url = f"sqlite:///{data_dir / 'ttp.sqlite3'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
        for path in data_dir.iterdir():  # the database and its -wal/-shm files
            assert path.stat().st_mode & 0o777 == 0o600, path
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        engine.dispose()


def test_metrics_name_no_organisation_client_or_query(api, token_for) -> None:  # type: ignore[no-untyped-def]
    municipality = token_for("municipality", "GM0363")
    api.get("/v1/reports/municipalities/GM0363", params={"period": "2025"}, headers=municipality)
    api.get("/v1/consents", params={"consent_ref": "dossier-secret"})
    metrics = api.get("/metrics").text
    assert "ttp_http_requests_total" in metrics
    for leak in ("GM0363", "dossier-secret", "consent_ref", "prov-", "muni-", "Bearer"):
        assert leak not in metrics, leak


def test_the_log_scan_knows_what_to_look_for() -> None:
    from tests.log_scan import leaks_in

    hashed = "scrypt$32768$8$1$c2FsdA==$ZGlnZXN0"
    assert leaks_in(f"pseudonym {STAGE1} and {hashed}") == ["a stage-1 pseudonym", "a scrypt secret hash"]
    assert leaks_in("[SQL: INSERT ...] [parameters: ('p2.v1.x',)]") == ["a database statement's values"]
    assert leaks_in('{"level": "error", "message": "unhandled error", "error_type": "DataError"}') == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_schemathesis_generates_record_bodies_from_the_document(app) -> None:  # type: ignore[no-untyped-def]
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    operation = schemathesis.openapi.from_asgi("/v1/openapi.json", app)["/v1/records/batches"]["POST"]
    bodies: list[Any] = []

    @given(case=operation.as_strategy(media_type="application/json"))
    @settings(max_examples=25, database=None, suppress_health_check=list(HealthCheck))
    def collect(case) -> None:  # type: ignore[no-untyped-def]
        bodies.append(case.body)

    collect()
    records = [r for b in bodies if isinstance(b, dict) for r in b.get("records") or [] if isinstance(r, dict)]
    assert {r.get("framework") for r in records} >= {"jeugdhulp"}
    assert all(r["start_date"] >= "2015-01-01" for r in records if isinstance(r.get("start_date"), str))


# ---- readers beside the writer -------------------------------------------------------------------
def test_a_reader_never_waits_for_the_writer_and_cannot_write(app) -> None:  # type: ignore[no-untyped-def]
    """Report readers use read-only sessions: on SQLite they read a WAL snapshot while ingestion
    holds the write lock (before, every read took BEGIN IMMEDIATE and queued behind the writer,
    then failed after 30 s); on PostgreSQL the transaction is READ ONLY, so a read path cannot write."""
    runtime = app.state.runtime
    writer = runtime.sessions()
    try:
        writer.add(ProviderNote(provider_id=PROVIDER, municipality="GM0344", period="2025", text="x",
                                updated_at=datetime.now(UTC)))
        writer.flush()  # the writer now holds the database's write lock, uncommitted
        with runtime.read_sessions() as reader:
            seen = reader.execute(select(func.count()).select_from(ProviderNote)).scalar_one()
            assert seen == 0  # the last committed state, at once
        if runtime.engine.dialect.name == "postgresql":
            with runtime.read_sessions() as reader, pytest.raises(InternalError, match="read-only"):
                reader.execute(text("DELETE FROM provider_notes"))
    finally:
        writer.rollback()
        writer.close()
