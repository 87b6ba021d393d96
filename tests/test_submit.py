"""`ttp submit`: the provider's export to the TTP in one command, resumable, the BSN staying local.

End to end against the real app (its ASGI transport through the ``api`` TestClient), plus the
retry rules on a mock transport, the tool's import purity, and a fresh virtual environment with the
light install only.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import venv
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from sqlalchemy import func, select

from app.models import OutcomeRecord
from provider_tool.client import ClientError, Credentials, TtpClient, client_assertion
from provider_tool.export import EXPORT_COLUMNS, read_export
from provider_tool.journal import path_for
from provider_tool.submit import Options, SubmitError, run
from provider_tool.withdraw import WithdrawError, WithdrawOutcome, parse_references, run_withdraw
from pseudonymisation import generate_key
from pseudonymisation.keys import write_key_file
from tests.scan import database_bytes
from tests.test_cli_service import CEILING, PortTaken, start_server, stop, ttp

ROOT = Path(__file__).resolve().parents[1]
PROVIDER = "40000077"
SERVER = "https://testserver"


def valid_bsns(count: int, start: int = 10_000_000) -> list[str]:
    """``count`` distinct numbers that pass the elfproef (synthetic, not anyone's)."""
    found: list[str] = []
    n = start
    while len(found) < count:
        digits = f"{n:08d}"
        check = sum(w * int(d) for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if check <= 9:
            found.append(digits + str(check))
        n += 1
    return found


def export_rows(count: int, *, offset: int = 0) -> list[dict[str, str]]:
    """Trajectories that ended ten days ago: their quarter is not final, so they wait for a release."""
    today = date.today()
    given, start, end = (str(today - timedelta(days=d)) for d in (200, 100, 10))
    rows = []
    for i, bsn in enumerate(valid_bsns(count, 10_000_000 + offset * 37)):
        rows.append({
            "record_id": f"traj-{offset + i:06d}", "framework": "jeugdhulp", "bsn": bsn,
            "consent_ref": f"dossier-{offset + i:06d}", "given_by": "youth_and_parents", "age_at_consent": "13",
            "given_at": given, "valid_until": "", "municipality": "GM0363", "start_date": start,
            "end_date": end, "end_reason": "01", "hulpvorm": "02", "product_category": "45",
            "referrer": "01", "age_band": "12-15", "sex": "V", "outcomes.satisfaction.mark": str(6 + i % 5),
            "outcomes.satisfaction.informant": "youth",
        })
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], delimiter: str = ",") -> Path:
    columns = [c for c in EXPORT_COLUMNS if c in rows[0]]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "stage1.key"
    write_key_file(generate_key("v1"), path)
    return path


@pytest.fixture
def provider_credentials(make_client) -> Callable[[], Credentials]:
    made = make_client("provider", PROVIDER)
    return lambda: Credentials(client_id=made.client_id, client_secret=made.client_secret)


def stored_records(app) -> int:
    with app.state.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(OutcomeRecord)
                               .where(OutcomeRecord.provider_id == PROVIDER)).scalar_one()


def submit(export: Path, key_file: Path, credentials, http, *, batch_size: int = 10_000,
           receipt: Path | None = None, dry_run: bool = False):
    err = io.StringIO()
    outcome = run(Options(export=export, server=SERVER, key_file=key_file, batch_size=batch_size, receipt=receipt,
                          dry_run=dry_run),
                  credentials, http=http, console=Console(file=err, width=200), sleep=lambda s: None)
    return outcome, err.getvalue()


def assert_no_bsn(bsns: list[str], *texts: str) -> None:
    for text in texts:
        leaked = [b for b in bsns if b in text]
        assert leaked == [], f"{len(leaked)} BSNs leaked"


def test_submit_registers_uploads_and_a_rerun_sends_nothing_twice(
    api, app, tmp_path, key_file, provider_credentials, capsys
) -> None:
    rows = export_rows(120)
    export = write_csv(tmp_path / "export.csv", rows)
    sent: list[str] = []
    api.event_hooks["request"].append(lambda request: sent.append(request.url.path))
    receipt_file = tmp_path / "receipt.json"

    outcome, err = submit(export, key_file, provider_credentials, api, batch_size=50, receipt=receipt_file)
    assert outcome.exit_code == 0, err
    assert stored_records(app) == 120
    receipt = outcome.receipt
    assert (receipt["accepted"], receipt["replaced"], receipt["refused_rows"]) == (120, 0, 0)
    assert receipt["this_run"]["consents_registered"] == 120
    assert len(receipt["batches"]) == 3
    assert receipt["pending"] and all(p["published_from"] for p in receipt["pending"])
    assert sent.count("/v1/records/batches") == 3 and sent.count("/v1/consents/batches") == 3
    journal = path_for(export)
    assert journal.stat().st_mode & 0o777 == 0o600
    assert receipt_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(receipt_file.read_text())["accepted"] == 120
    out = capsys.readouterr().out
    assert "accepted by the TTP: 120" in out
    assert_no_bsn([r["bsn"] for r in rows], journal.read_text(), receipt_file.read_text(), out, err)

    sent.clear()
    again, err = submit(export, key_file, provider_credentials, api, batch_size=50)
    assert again.exit_code == 0, err
    assert sent.count("/v1/records/batches") == 0 and sent.count("/v1/consents/batches") == 0
    assert again.receipt["this_run"]["records_already_acknowledged"] == 120
    assert stored_records(app) == 120


class Killed(BaseException):
    """The process dies (as by SIGKILL or a power cut): nothing after this point runs."""


def test_an_interrupted_run_resumes_and_a_changed_export_sends_only_the_changed_rows(
    api, app, tmp_path, key_file, provider_credentials
) -> None:
    rows = export_rows(100)
    export = write_csv(tmp_path / "export.csv", rows)
    uploads: list[int] = []

    def die_on_the_third_upload(request: httpx.Request) -> None:
        if request.url.path == "/v1/records/batches":
            uploads.append(1)
            if len(uploads) == 3:
                raise Killed()

    api.event_hooks["request"].append(die_on_the_third_upload)
    with pytest.raises(Killed):
        submit(export, key_file, provider_credentials, api, batch_size=30)
    api.event_hooks["request"].remove(die_on_the_third_upload)
    assert stored_records(app) == 60

    sent: list[int] = []
    api.event_hooks["request"].append(
        lambda request: sent.append(len(json.loads(request.content)["records"]))
        if request.url.path == "/v1/records/batches" else None)
    resumed, err = submit(export, key_file, provider_credentials, api, batch_size=30)
    assert resumed.exit_code == 0, err
    assert sent == [30, 10]
    assert resumed.receipt["this_run"]["records_already_acknowledged"] == 60
    assert (resumed.receipt["accepted"], resumed.receipt["replaced"]) == (100, 0)
    assert resumed.receipt["this_run"]["consents_from_journal"] == 100
    assert stored_records(app) == 100

    # A corrected row and two new rows: only those three are sent; the correction replaces its record.
    rows[5]["outcomes.satisfaction.mark"] = "3"
    rows.extend(export_rows(2, offset=500))
    write_csv(export, rows)
    sent.clear()
    changed, err = submit(export, key_file, provider_credentials, api, batch_size=30)
    assert "The export changed since the last run" in err
    assert sent == [3]
    assert changed.receipt["batches"][-1]["replaced"] == 1
    assert stored_records(app) == 102


def test_a_dropped_connection_is_retried(api, app, tmp_path, key_file, provider_credentials) -> None:
    export = write_csv(tmp_path / "export.csv", export_rows(20))
    failures = iter([True, False, True])

    def drop(request: httpx.Request) -> None:
        if request.url.path == "/v1/records/batches" and next(failures, False):
            raise httpx.ConnectError("connection reset")

    api.event_hooks["request"].append(drop)
    outcome, err = submit(export, key_file, provider_credentials, api, batch_size=10)
    assert outcome.exit_code == 0, err
    assert err.count("network error (ConnectError); trying again") == 2
    assert stored_records(app) == 20


def test_dry_run_names_every_bad_line_and_column_and_sends_nothing(
    api, app, tmp_path, key_file, provider_credentials
) -> None:
    rows = export_rows(6)
    bsns = [r["bsn"] for r in rows]
    rows[1]["bsn"] = rows[1]["bsn"][:-1] + str((int(rows[1]["bsn"][-1]) + 1) % 10)  # elfproef fails
    rows[2]["given_by"] = "youth"  # 13: youth and parents
    rows[3]["outcomes.satisfaction.mark"] = "11"
    rows[4]["record_id"] = bsns[4]  # a BSN where it would leave the machine
    export = write_csv(tmp_path / "export.csv", rows, delimiter=";")
    sent: list[str] = []
    api.event_hooks["request"].append(lambda request: sent.append(request.url.path))

    outcome, err = submit(export, key_file, provider_credentials, api, dry_run=True)
    assert outcome.exit_code == 1
    found = {(p.line, p.column) for p in outcome.problems}
    assert found == {(3, "bsn"), (4, "given_by"), (5, "outcomes.satisfaction.mark"), (6, "record_id")}
    for line, column in found:
        assert f"line {line}, column {column}: " in err
    assert "6 rows: 2 ready, 4 with problems; nothing was sent" in err
    assert sent == [] and not path_for(export).exists()
    assert_no_bsn(bsns + [rows[1]["bsn"]], err, json.dumps(outcome.receipt))


def test_rows_the_ttp_refuses_are_named_and_the_rest_is_stored(
    api, app, tmp_path, key_file, provider_credentials
) -> None:
    rows = export_rows(10)
    export = write_csv(tmp_path / "export.csv", rows)
    outcome, err = submit(export, key_file, provider_credentials, api)
    assert outcome.exit_code == 0, err
    # The youth withdraws consent 7; the corrected export is submitted again.
    credentials = provider_credentials()
    token = api.post("/v1/oauth/token", data={"grant_type": "client_credentials"},
                     auth=(credentials.client_id, credentials.client_secret or "")).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    consent_id = api.get("/v1/consents", params={"consent_ref": rows[7]["consent_ref"]}, headers=bearer).json()
    assert api.post(f"/v1/consents/{consent_id['consent_id']}/withdraw", headers=bearer).status_code == 200
    rows[7]["outcomes.satisfaction.mark"] = "9"
    rows[8]["outcomes.satisfaction.mark"] = "2"
    write_csv(export, rows)
    again, err = submit(export, key_file, provider_credentials, api)
    assert again.exit_code == 1
    assert [(r["line"], r["column"]) for r in again.receipt["refused"]] == [(9, "consent_id")]
    assert "withdrawn" in again.receipt["refused"][0]["reason"]
    assert again.receipt["batches"][-1]["records"] == 1  # row 8 went through, alone


def test_withdraw_by_reference_says_withdrawn_already_withdrawn_or_not_found(
    api, app, tmp_path, key_file, provider_credentials
) -> None:
    rows = export_rows(6)
    export = write_csv(tmp_path / "export.csv", rows)
    assert submit(export, key_file, provider_credentials, api)[0].exit_code == 0
    assert stored_records(app) == 6
    refs = [row["consent_ref"] for row in rows]
    sent: list[str] = []
    api.event_hooks["request"].append(lambda request: sent.append(f"{request.method} {request.url.path}"))

    def withdraw(value: str, *, dry_run: bool = False, receipt: Path | None = None) -> tuple[WithdrawOutcome, str]:
        out = io.StringIO()
        outcome = run_withdraw(parse_references(value), SERVER, provider_credentials, dry_run=dry_run,
                               receipt=receipt, http=api, out=Console(file=out, width=200),
                               err=Console(file=out, width=200))
        return outcome, out.getvalue()

    looked, out = withdraw(f"{refs[1]}", dry_run=True)
    assert (looked.exit_code, out.splitlines()[0]) == (0, f"{refs[1]}: would be withdrawn (now active; --dry-run: "
                                                          "nothing was sent)")
    assert not any(call.endswith("/withdraw") for call in sent) and stored_records(app) == 6

    receipt = tmp_path / "withdrawn.json"
    done, out = withdraw(f" {refs[1]}, {refs[2]} ,no-such-dossier,{refs[1]}", receipt=receipt)
    assert out.splitlines() == [f"{refs[1]}: withdrawn", f"{refs[2]}: withdrawn", "no-such-dossier: not found",
                                "3 references: withdrawn 2, already withdrawn 0, not found 1"]
    assert done.exit_code == 1
    assert stored_records(app) == 4  # the TTP removed the withdrawn consents' records at once
    assert receipt.stat().st_mode & 0o777 == 0o600
    assert [r["result"] for r in json.loads(receipt.read_text())["withdraw"]] == ["withdrawn", "withdrawn",
                                                                                    "not found"]

    listed = tmp_path / "refs.txt"
    listed.write_text(f"{refs[2]}\n\n{refs[3]}\n{rows[4]['bsn']}\n", encoding="utf-8")
    sent.clear()
    again, out = withdraw(f"@{listed}")
    assert out.splitlines()[:3] == [f"{refs[2]}: already withdrawn", f"{refs[3]}: withdrawn",
                                    "reference 3: not sent (it looks like a BSN: not sent, not shown; a "
                                    "consent_ref is never a BSN)"]
    assert again.exit_code == 1 and stored_records(app) == 3
    assert len(sent) == 4  # a lookup each for refs 2 and 3, one withdrawal (plus the token); the BSN went nowhere
    assert_no_bsn([r["bsn"] for r in rows], out, receipt.read_text())

    with pytest.raises(WithdrawError, match="no consent references"):
        parse_references(" , ,")
    with pytest.raises(WithdrawError, match="cannot read it"):
        parse_references(f"@{tmp_path / 'missing.txt'}")


def test_submit_needs_an_export_and_a_key_or_withdraw(tmp_path) -> None:
    from typer.testing import CliRunner

    from provider_tool.cli import cli

    runner = CliRunner()
    bare = runner.invoke(cli, ["submit", "--server", SERVER])
    assert bare.exit_code == 2 and "give the EXPORT and --key-file" in bare.output
    both = runner.invoke(cli, ["submit", str(tmp_path / "export.csv"), "--server", SERVER, "--withdraw", "a"])
    assert both.exit_code == 2 and "not both" in both.output
    assert "--withdraw" in runner.invoke(cli, ["submit", "--help"]).output


def test_xlsx_and_json_exports_read_like_the_csv(tmp_path) -> None:
    from openpyxl import Workbook

    rows = export_rows(3)
    book = Workbook()
    sheet = book.active
    columns = list(rows[0])
    sheet.append(columns)
    for row in rows:
        values = [int(v) if c in ("outcomes.satisfaction.mark", "age_at_consent") else v for c, v in row.items()]
        values[columns.index("hulpvorm")] = 2  # Excel drops the leading zero
        sheet.append(values)
    book.save(tmp_path / "export.xlsx")
    from_csv = read_export(write_csv(tmp_path / "export.csv", rows))
    from_xlsx = read_export(tmp_path / "export.xlsx")
    assert [r.record for r in from_xlsx.rows] == [r.record for r in from_csv.rows]
    assert [r.line for r in from_xlsx.rows] == [2, 3, 4]

    items = [{**r.record, "bsn": r.bsn, **r.consent} for r in from_csv.rows]
    (tmp_path / "export.json").write_text(json.dumps({"records": items}))
    from_json = read_export(tmp_path / "export.json")
    assert [r.record for r in from_json.rows] == [r.record for r in from_csv.rows]


def test_a_key_file_others_can_read_is_refused(tmp_path, key_file) -> None:
    export = write_csv(tmp_path / "export.csv", export_rows(1))
    key_file.chmod(0o644)
    with pytest.raises(SubmitError, match="key files must be 0600"):
        run(Options(export=export, server=SERVER, key_file=key_file, dry_run=True))


def test_private_key_jwt(api, app, tmp_path, key_file) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from app import db
    from app.auth import clients

    private = ec.generate_private_key(ec.SECP256R1())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    runtime = app.state.runtime
    with db.session_scope(runtime.sessions) as session:
        made = clients.create_client(session, name="jwt provider", org_type="provider", org_id=PROVIDER, scopes=None,
                                     ttp_id=runtime.settings.ttp_id,
                                     known_municipalities=runtime.codelists.municipalities,
                                     public_key_pem=public_pem)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    credentials = Credentials(client_id=made.client_id, private_key_pem=pem)
    export = write_csv(tmp_path / "export.csv", export_rows(5))
    outcome, err = submit(export, key_file, lambda: credentials, api)
    assert outcome.exit_code == 0, err
    assert stored_records(app) == 5
    assert client_assertion(credentials, "x").count(".") == 2


def test_retries_honour_retry_after_and_stop_after_the_last_attempt() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(429),
                    httpx.Response(200, json={"ok": True})])
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth/token":
            return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
        return next(answers)

    client = TtpClient("https://ttp.example", Credentials("c", "s"), http=httpx.Client(
        transport=httpx.MockTransport(handler)), sleep=waits.append)
    assert client.post_json("/v1/records/batches", {}, what="uploading").status_code == 200
    assert waits == [7.0, 2.0]

    down = TtpClient("https://ttp.example", Credentials("c", "s"), max_attempts=3, sleep=waits.append,
                     http=httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503))))
    with pytest.raises(ClientError, match="failed 3 times.*Run the same command again"):
        down.post_json("/v1/records/batches", {}, what="the token request")


SERVER_ONLY = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg", "numpy", "scipy", "jose")


def test_the_provider_tool_imports_nothing_of_the_server() -> None:
    for path in sorted((ROOT / "provider_tool").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                assert name.split(".")[0] not in SERVER_ONLY, f"{path.name} imports {name}"
                if name.startswith("app") and path.name != "cli.py":
                    assert name.startswith("app.records.schemas"), f"{path.name} imports {name}"
    probe = ("import sys, provider_tool.cli, provider_tool.submit; "
             f"print(sorted(m for m in {SERVER_ONLY!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_light_install_runs_submit_without_the_server(tmp_path: Path, key_file: Path) -> None:
    """A fresh virtual environment, `pip install` of this checkout without extras, then `ttp submit --dry-run`."""
    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTP_", "PYTHON", "VIRTUAL_ENV"))}
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True,
                             text=True, env=env, cwd=tmp_path, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                               env=env, check=True)
    names = {p["name"].lower().replace("_", "-") for p in json.loads(installed.stdout)}
    assert "outcome-ttp" in names
    server = {"fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg", "psycopg-binary", "numpy",
              "scipy", "python-jose", "prometheus-client", "pydantic-settings", "python-multipart"}
    assert names & server == set()
    for module in ("numpy", "fastapi", "sqlalchemy"):
        probe = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, env=env, cwd=tmp_path)
        assert probe.returncode != 0, module

    rows = export_rows(3)
    rows[1]["given_by"] = "youth"
    export = write_csv(tmp_path / "export.csv", rows)
    ttp = target / "bin" / "ttp"
    dry = subprocess.run([str(ttp), "submit", str(export), "--server", "https://ttp.example.nl", "--key-file",
                          str(key_file), "--dry-run"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert dry.returncode == 1, dry.stderr
    assert "line 3, column given_by: " in dry.stderr
    assert "3 rows: 2 ready, 1 with problems; nothing was sent" in dry.stderr
    assert_no_bsn([r["bsn"] for r in rows], dry.stdout, dry.stderr)
    template = subprocess.run([str(ttp), "records", "template", "--for-submit"], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
    assert template.returncode == 0 and template.stdout.startswith("record_id,framework,bsn,consent_ref")
    pseudonym = subprocess.run([str(ttp), "pseudonymise", "--key-file", str(key_file)], input=rows[0]["bsn"] + "\n",
                               capture_output=True, text=True, env=env, cwd=tmp_path)
    assert pseudonym.returncode == 0 and pseudonym.stdout.startswith("p1.v1.")
    serve = subprocess.run([str(ttp), "serve"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert serve.returncode == 2 and "pip install 'outcome-ttp[server]'" in serve.stderr


# ---- issue 13, "what it must show" 1: a real `ttp serve`, a real `ttp submit`, a SIGKILL halfway -----------------
E2E_ROWS = 25_000
E2E_BATCH = 5_000
TOOL = [sys.executable, "-m", "provider_tool.cli", "submit"]


def bsn_hits(data: bytes, bsns: set[bytes]) -> int:
    """How often any of ``bsns`` (9 digits each) occurs in ``data``: a set lookup per 9-digit window instead of a
    scan per BSN (25,000 scans of a database take minutes).

    A window inside a hex string of 32 or more characters with a letter in it (a SHA-256, a key id, a bytea in a
    dump, the journal's digests) is that string's, not a BSN: with 25,000 BSNs, the database's and the journal's
    digests hold a few such 9-digit stretches by chance on every run. A BSN stored as its own value is bounded
    by something that is not a hex digit (a quote, a tab, a record header) and is counted.
    """
    hits = 0
    for hex_run in re.finditer(rb"[0-9a-fA-F]{9,}", data):
        text = hex_run.group()
        if len(text) >= 32 and not text.isdigit():
            continue
        for digit_run in re.finditer(rb"\d{9,}", text):
            digits = digit_run.group()
            hits += sum(digits[i:i + 9] in bsns for i in range(len(digits) - 8))
    return hits


def journal_batches(journal: Path) -> tuple[int, int]:
    """(consents, record batches) the journal holds; (0, 0) before its first write (it is replaced atomically)."""
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return 0, 0
    return len(data["consents"]), len(data["batches"])


def count_records(database_url: str) -> tuple[int, int, int]:
    """All stored records, this provider's, and this provider's distinct record ids: counted in the database."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            everyone = connection.execute(select(func.count()).select_from(OutcomeRecord)).scalar_one()
            own = select(OutcomeRecord.record_id).where(OutcomeRecord.provider_id == PROVIDER)
            ours = connection.execute(select(func.count()).select_from(own.subquery())).scalar_one()
            distinct = connection.execute(select(func.count()).select_from(own.distinct().subquery())).scalar_one()
    finally:
        engine.dispose()
    return everyone, ours, distinct


@pytest.mark.slow
def test_a_real_submission_killed_halfway_finishes_on_rerun_with_every_record_once_and_no_bsn_anywhere(
    tmp_path: Path, database_url: str, key_file: Path
) -> None:
    """25,000 rows with BSNs, batches of 5,000: the tool is SIGKILLed once a batch is acknowledged, the rerun
    finishes; the TTP holds every record once, `ttp verify` is clean, and no BSN is in the journal, the receipt,
    the tool's output, the server's logs or the database. `ttp submit --withdraw` then withdraws by reference.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_DATA_DIR": str(tmp_path / "var"), "TTP_DATABASE_URL": database_url, "TTP_LOG_LEVEL": "WARNING",
                # No periodic jobs in the served process: the demo's releases (published in the background on a
                # fresh data dir) are no part of this test, and on SQLite their long write transaction makes an
                # upload wait for the lock until it fails with a 500.
                "TTP_RUN_JOBS": "false",
                # Nor the first run's 5,000 demo records: this test's own 25,000 are the load.
                "TTP_DEMO_RECORDS": "0"})
    logs = tmp_path / "logs"
    logs.mkdir()
    for attempt in range(5):
        try:
            process, base = start_server(env, logs)
            break
        except PortTaken:
            if attempt == 4:
                raise
    try:
        made = ttp(env, "clients", "add", "--org-type", "provider", "--org-id", PROVIDER, "--name", "e2e provider",
                   "--json")
        assert made.returncode == 0, made.stderr
        credentials = tmp_path / "client.json"
        credentials.write_text(made.stdout, encoding="utf-8")
        credentials.chmod(0o600)

        rows = export_rows(E2E_ROWS)
        bsns = {row["bsn"].encode() for row in rows}
        assert len(bsns) == E2E_ROWS
        work = tmp_path / "provider"
        work.mkdir()
        export = write_csv(work / "export.csv", rows)
        journal = path_for(export)
        receipt = work / "receipt.json"
        command = [*TOOL, str(export), "--server", base, "--key-file", str(key_file), "--credentials",
                   str(credentials), "--batch-size", str(E2E_BATCH), "--receipt", str(receipt)]
        tool_env = {k: v for k, v in env.items() if k not in ("TTP_DATABASE_URL", "TTP_DATA_DIR")}
        outputs = [work / name for name in ("first.out", "first.err", "rerun.out", "rerun.err")]

        # The first run, killed (SIGKILL: no handler runs) as soon as the journal holds an acknowledged batch.
        started = time.monotonic()
        consents_done = None
        with outputs[0].open("wb") as out, outputs[1].open("wb") as err:
            tool = subprocess.Popen(command, env=tool_env, stdout=out, stderr=err, cwd=work)
        try:
            while tool.poll() is None:
                consents, acknowledged = journal_batches(journal)
                if consents_done is None and consents == E2E_ROWS:
                    consents_done = time.monotonic() - started
                if acknowledged >= 1:
                    break
                if time.monotonic() - started > CEILING:
                    raise AssertionError(f"no batch acknowledged in {CEILING} s")
                time.sleep(0.05)
            assert tool.poll() is None, f"ttp submit ended before it was killed: {outputs[1].read_text()[-2000:]}"
            tool.send_signal(signal.SIGKILL)
        finally:
            tool.kill()
            tool.wait()
        killed_at = time.monotonic() - started
        assert tool.returncode == -signal.SIGKILL
        _, acknowledged = journal_batches(journal)
        assert 1 <= acknowledged < E2E_ROWS // E2E_BATCH
        assert not receipt.exists()

        # The rerun continues where the journal says it stopped.
        rerun_started = time.monotonic()
        with outputs[2].open("wb") as out, outputs[3].open("wb") as err:
            rerun = subprocess.run(command, env=tool_env, stdout=out, stderr=err, cwd=work, timeout=CEILING)
        rerun_seconds = time.monotonic() - rerun_started
        assert rerun.returncode == 0, outputs[3].read_text()[-3000:]
        answer = json.loads(receipt.read_text(encoding="utf-8"))
        this_run = answer["this_run"]
        assert answer["rows"] == E2E_ROWS and answer["refused_rows"] == 0
        assert this_run["consents_registered"] == 0 and this_run["consents_from_journal"] == E2E_ROWS
        assert this_run["records_already_acknowledged"] == acknowledged * E2E_BATCH
        assert this_run["records_sent"] == E2E_ROWS - acknowledged * E2E_BATCH
        # A batch the TTP stored just before the kill, but the journal had not yet recorded, comes back as
        # "replaced" (the same record id, the same content): stored once all the same.
        assert answer["accepted"] == E2E_ROWS + answer["replaced"] or answer["accepted"] == E2E_ROWS
        assert answer["replaced"] in (0, E2E_BATCH)
        assert "accepted by the TTP" in outputs[2].read_text()

        everyone, ours, distinct = count_records(database_url)
        assert (ours, distinct) == (E2E_ROWS, E2E_ROWS)
        verified = ttp(env, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"aggregate store matches: {everyone} records" in verified.stdout
        audit = ttp(env, "audit", "verify")
        assert audit.returncode == 0, audit.stderr
        print(f"\nttp submit, {E2E_ROWS} rows in batches of {E2E_BATCH} ({database_url.split(':')[0]}): "
              f"first run consents registered after {consents_done or 0:.1f} s, killed after {killed_at:.1f} s "
              f"with {acknowledged} batches acknowledged; rerun {rerun_seconds:.1f} s wall, "
              f"timings {answer['timings']}; replaced on rerun {answer['replaced']}")

        # Withdrawal by the provider's own references, through the command line.
        withdraw = subprocess.run([*TOOL, "--withdraw", f"{rows[0]['consent_ref']},{rows[1]['consent_ref']},nope",
                                   "--server", base, "--credentials", str(credentials)],
                                  env=tool_env, capture_output=True, text=True, cwd=work, timeout=CEILING)
        assert withdraw.returncode == 1, withdraw.stderr
        assert withdraw.stdout.splitlines() == [f"{rows[0]['consent_ref']}: withdrawn",
                                                f"{rows[1]['consent_ref']}: withdrawn", "nope: not found",
                                                "3 references: withdrawn 2, already withdrawn 0, not found 1"]
        assert count_records(database_url)[1:] == (E2E_ROWS - 2, E2E_ROWS - 2)
        (work / "withdraw.out").write_text(withdraw.stdout + withdraw.stderr, encoding="utf-8")
    finally:
        stop(process)  # the server's logs are complete once it has stopped

    scanned = {path.name: path.read_bytes() for path in
               [journal, receipt, *outputs, work / "withdraw.out", *sorted(logs.iterdir())]}
    assert journal.stat().st_mode & 0o777 == 0o600 and receipt.stat().st_mode & 0o777 == 0o600
    assert any(name.endswith(".err") and name.startswith("serve-") for name in scanned)
    scanned["database"] = database_bytes(database_url)
    assert len(scanned["database"]) > 1_000_000
    assert bsn_hits(export.read_bytes(), bsns) == E2E_ROWS  # the scan finds them where they are
    leaks = {name: bsn_hits(data, bsns) for name, data in scanned.items()}
    assert leaks == dict.fromkeys(scanned, 0)
