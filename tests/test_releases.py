"""Releases over time, played as the attacker DESIGN.md describes.

A municipality pulls every report its token allows, before and after a change (one late record,
one consent withdrawal, one retraction), and subtracts. It knows from its own administration which
child the change is about, so a cell whose denominator moved by exactly one gives that child's
outcome away. With protection over time the change waits for a later release and nothing moves;
with it switched off the same attacker reads the outcome: the test can fail.

This module runs with ``rounding_base = 0`` (a valid configuration): rounding must not be what
hides the change, the composition of the release must.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.reports.calendar import Calendar
from app.reports.periods import Period
from app.settings import EXAMPLE_PRIVACY_CONFIG, Settings
from app.web.provider_pages import period_label
from provider_tool import pending as pending_tool
from provider_tool.client import Credentials, TtpClient
from tests.test_http_conventions import assert_problem
from tests.test_records_api import Population, post

PROVIDERS = {"A": "40000001", "B": "40000002", "C": "40000003"}
DIMENSIONS = ["provider", "hulpvorm", "product_category", "age_band", "sex"]
CALENDAR = Calendar("quarterly", 45, ("next_release", "year_end"))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, key_dir: Path) -> Settings:
    text = EXAMPLE_PRIVACY_CONFIG.read_text(encoding="utf-8")
    text = text.replace("rounding_base = 5 ", "rounding_base = 0 ")
    assert "rounding_base = 0 " in text
    config = tmp_path / "privacy.toml"
    config.write_text(text, encoding="utf-8")
    return Settings(data_dir=tmp_path, database_url=database_url, key_dir=key_dir, privacy_config=config,
                    log_level="WARNING", run_jobs=False)


def _slots() -> tuple[date, date, Period]:
    """The latest slot, the next one, and the quarter first published at the latest slot (which
    the calendar lets change again at the next one)."""
    first = CALENDAR.latest_slot(date.today())
    day = first - timedelta(days=46)
    quarter = Period.parse(f"{day.year}-Q{(day.month - 1) // 3 + 1}")
    assert CALENDAR.first_publication(quarter) == first
    second = CALENDAR.next_slot(first)
    assert CALENDAR.may_change(quarter, second)
    return first, second, quarter


def _days(quarter: Period, i: int) -> tuple[str, str]:
    month = 3 * quarter.number - 2
    end = date(quarter.year, month, 3) + timedelta(days=i % 80)
    return (end - timedelta(days=120 + i % 30)).isoformat(), end.isoformat()


@pytest.fixture
def quarter_loaded(api, token_for, publish):
    """Amsterdam in one quarter: providers A 40, B 25, C 20 ended trajectories, published at the
    latest slot. Returns the populations (to change them) and the slots."""
    first, second, quarter = _slots()
    populations = {}
    person = 0
    for name, count in (("A", 40), ("B", 25), ("C", 20)):
        headers = token_for("provider", PROVIDERS[name])
        people = Population(api, headers)
        records = []
        for i in range(count):
            start, end = _days(quarter, i)
            records.append(people.record(person, municipality="GM0363", start_date=start, end_date=end,
                                         end_reason="03" if i % 3 == 0 else "01", hulpvorm="02" if i % 2 else "03"))
            person += 1
        assert post(api, headers, records).status_code == 200
        populations[name] = (headers, people, records)
    made = publish(first)
    assert any(m.release_id for m in made)
    return populations, first, second, quarter


def pull_everything(api, headers, periods) -> dict[tuple[str, str, str, str], dict]:
    """Every cell of every report the municipality may read, for the given periods."""
    cells = {}
    for period in periods:
        for by in [None, *DIMENSIONS]:
            response = api.get("/v1/reports/municipalities/GM0363",
                               params={"period": period, **({"by": by} if by else {})}, headers=headers)
            if response.status_code == 409:
                continue  # not published (yet)
            assert response.status_code == 200, response.text
            for cell in response.json()["cells"]:
                dimension, category = next(iter(cell["dimensions"].items()), ("total", ""))
                cells[(period, dimension, category, cell["indicator"])] = cell
    return cells


def read_outcome(before, after, person_cells) -> set[int]:
    """The attacker: every drop-out change it can read off a cell that moved by exactly the one
    child it knows about (1 = the child dropped out, 0 = not; both found = contradiction)."""
    found = set()
    for key in person_cells:
        old, new = before.get(key), after.get(key)
        if not old or not new or old["suppressed"] or new["suppressed"]:
            continue
        if old.get("numerator") is None or new.get("numerator") is None:
            continue
        if abs(new["denominator"] - old["denominator"]) == 1:
            found.add(abs(new["numerator"] - old["numerator"]))
    return found


def _person_cells(record: dict, provider: str, periods) -> list[tuple[str, str, str, str]]:
    end = date.fromisoformat(record["end_date"])
    own = {f"{end.year}", f"{end.year}-H{1 if end.month <= 6 else 2}", f"{end.year}-Q{(end.month - 1) // 3 + 1}"}
    categories = {"total": "", "provider": provider, "hulpvorm": record["hulpvorm"],
                  "product_category": record.get("product_category") or "unknown",
                  "age_band": record.get("age_band") or "unknown", "sex": record.get("sex") or "unknown"}
    return [(p, d, c, "1") for p in periods if p in own for d, c in categories.items()]


@pytest.mark.slow
@pytest.mark.parametrize("change", ["late record", "withdrawal", "retraction"])
@pytest.mark.parametrize("over_time", [True, False], ids=["protected", "unprotected"])
def test_the_difference_between_releases_never_gives_one_childs_outcome(
    api, token_for, publish, quarter_loaded, app, change, over_time
) -> None:
    populations, first, second, quarter = quarter_loaded
    municipality = token_for("municipality", "GM0363")
    periods = CALENDAR.due(quarter.year, second)
    before = pull_everything(api, municipality, periods)
    release_before = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)},
                             headers=municipality).json()["release"]

    headers, people, records = populations["A"]
    if change == "late record":
        start, end = _days(quarter, 7)
        child = people.record(900, municipality="GM0363", start_date=start, end_date=end, end_reason="03",
                              hulpvorm="03")
        assert post(api, headers, [child]).status_code == 200
        truth = 1
    elif change == "withdrawal":
        child = records[3]  # person 3: end reason 03 (3 % 3 == 0)
        assert api.post(f"/v1/consents/{people.consents[3]}/withdraw", headers=headers).status_code == 200
        truth = 1
    else:
        child = records[4]  # person 4: end reason 01
        assert api.delete(f"/v1/records/{child['record_id']}", headers=headers).status_code == 204
        truth = 0

    made = publish(second, over_time=over_time)
    after = pull_everything(api, municipality, periods)
    release_after = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)},
                            headers=municipality).json()["release"]
    found = read_outcome(before, after, _person_cells(child, PROVIDERS["A"], periods))
    if over_time:
        assert found == set(), f"the attacker read the child's outcome: {found}"
        # nothing the municipality saw before moved: the change waits, and the register says so
        seen_both = [k for k in before if k in after]
        assert seen_both and all(before[k] == after[k] for k in seen_both)
        amsterdam = [m for m in made if m.family == "municipality:GM0363" and m.framework == "jeugdhulp"]
        if amsterdam and amsterdam[0].release_id:  # new periods (or other changes) made a new release
            assert release_after["id"] != release_before["id"]
            assert amsterdam[0].figures["changes_held_back"]["base_cells"] >= 1
        else:  # nothing safe to publish: the earlier release stays current
            assert release_after["id"] == release_before["id"]
    else:
        assert found == {truth}, "without protection over time the attacker must read the outcome"


@pytest.mark.slow
def test_a_large_enough_change_is_published_at_the_next_release(api, token_for, publish, quarter_loaded) -> None:
    populations, first, second, quarter = quarter_loaded
    municipality = token_for("municipality", "GM0363")
    total = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)}, headers=municipality)
    before = next(c for c in total.json()["cells"] if c["indicator"] == "1" and not c["dimensions"])
    assert before["denominator"] == 85
    # twelve late records from three providers, spread so that every cell that moves moves by 10+
    for name in ("A", "B", "C"):
        headers, people, _ = populations[name]
        late = []
        for i in range(12 if name == "A" else 0):
            start, end = _days(quarter, 5)
            late.append(people.record(1000 + i, municipality="GM0363", start_date=start, end_date=end,
                                      end_reason="01", hulpvorm="02"))
        if late:
            assert post(api, headers, late).status_code == 200
    # the next release is due at the next slot; until then the report does not move
    still = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)}, headers=municipality)
    assert still.json() == total.json()
    publish(second)
    after = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)}, headers=municipality)
    moved = next(c for c in after.json()["cells"] if c["indicator"] == "1" and not c["dimensions"])
    assert moved["denominator"] == 97
    assert after.json()["release"]["sequence"] == 2


@pytest.mark.slow
def test_the_register_lists_every_release_and_audit_verify_covers_them(
    api, token_for, quarter_loaded, app, environment_for_cli
) -> None:
    officer = token_for("privacy_officer", "TTP")
    register = api.get("/v1/releases", headers=officer)
    assert register.status_code == 200, register.text
    entries = register.json()
    amsterdam = [e for e in entries if e["family"] == "municipality:GM0363" and e["framework"] == "jeugdhulp"]
    assert len(amsterdam) == 1 and amsterdam[0]["current"] and amsterdam[0]["sequence"] == 1
    figures = amsterdam[0]["indicators"]["1"]
    assert figures["withheld"] == figures["below_threshold"] + figures["to_protect_others"]
    assert amsterdam[0]["config_sha256"] == app.state.runtime.privacy.sha256
    one = api.get(f"/v1/releases/{amsterdam[0]['id']}", headers=officer)
    assert one.status_code == 200 and one.json() == amsterdam[0]
    assert_problem(api.get("/v1/releases", headers=token_for("municipality", "GM0363")), 403)
    assert_problem(api.get("/v1/releases/rel-doesnotexist00", headers=officer), 404)

    # every read of a report is audited with the release it came from
    municipality = token_for("municipality", "GM0363")
    _, _, quarter = _slots()
    api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)}, headers=municipality)
    entries_log = api.get("/v1/audit/entries", params={"action": "reports.municipality"}, headers=officer).json()
    assert entries_log["entries"][-1]["detail"]["release"] == amsterdam[0]["id"]

    verified = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=environment_for_cli,
                              capture_output=True, text=True, timeout=600)
    assert verified.returncode == 0, verified.stderr
    assert "releases intact" in verified.stdout

    # a release changed behind the service's back is found (the table refuses UPDATE: drop the trigger)
    from sqlalchemy import text

    engine = app.state.runtime.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE releases DISABLE TRIGGER releases_no_update"))
        else:
            connection.execute(text("DROP TRIGGER releases_no_update"))
        connection.execute(text("UPDATE releases SET content_sha256 = :h WHERE release_id = :r"),
                           {"h": "0" * 64, "r": amsterdam[0]["id"]})
    broken = subprocess.run([sys.executable, "-m", "app.cli", "audit", "verify"], env=environment_for_cli,
                            capture_output=True, text=True, timeout=600)
    assert broken.returncode == 1 and amsterdam[0]["id"] in broken.stderr


@pytest.mark.slow
def test_releases_cannot_be_changed_or_removed(quarter_loaded, app) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE releases SET family = 'x'", "DELETE FROM releases"):
        with pytest.raises(DBAPIError, match="immutable"), app.state.runtime.engine.begin() as connection:
            connection.execute(text(statement))


@pytest.mark.slow
def test_after_a_restart_and_in_another_process_the_same_question_gets_the_same_bytes(
    api, token_for, quarter_loaded, settings, environment_for_cli
) -> None:
    """A restarted runtime, and a second `ttp serve` process on the same database, answer every
    report with the same bytes (JSON and CSV) as the first."""
    import httpx

    from tests.test_cli_service import free_port

    _, _, _, quarter = quarter_loaded
    municipality = token_for("municipality", "GM0363")
    asks = [{"period": str(quarter), "by": by} for by in DIMENSIONS] + [{"period": str(quarter)}]

    def answers(client) -> list[bytes]:
        out = []
        for params in asks:
            for accept in ("application/json", "text/csv"):
                response = client.get("/v1/reports/municipalities/GM0363", params=params,
                                      headers={**municipality, "Accept": accept})
                assert response.status_code == 200, response.text
                out.append(response.content)
        return out

    first = answers(api)
    with TestClient(create_app(settings), base_url="https://testserver") as restarted:
        assert answers(restarted) == first

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                              env=environment_for_cli, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        while True:  # readiness, not a deadline: the process either answers or exits
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as other:
            assert answers(other) == first
    finally:
        server.terminate()
        server.wait(timeout=60)


@pytest.fixture
def environment_for_cli(settings: Settings) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("TTP_")}
    env.update({"TTP_DATA_DIR": str(settings.data_dir), "TTP_DATABASE_URL": settings.resolved_database_url,
                "TTP_KEY_DIR": str(settings.key_dir), "TTP_PRIVACY_CONFIG": str(settings.privacy_config),
                "TTP_LOG_LEVEL": "WARNING"})
    return env


@pytest.mark.slow
def test_releases_list_command_prints_the_register(quarter_loaded, environment_for_cli) -> None:
    listed = subprocess.run([sys.executable, "-m", "app.cli", "releases", "list", "--json"],
                            env=environment_for_cli, capture_output=True, text=True, timeout=600)
    assert listed.returncode == 0, listed.stderr
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert any(e["family"] == "municipality:GM0363" and e["current"] for e in entries)


def test_the_provider_sees_its_own_upload_at_once_in_the_batch_receipt(api, token_for) -> None:
    first, second, quarter = _slots()
    headers = token_for("provider", PROVIDERS["A"])
    people = Population(api, headers)
    records = []
    for i in range(3):
        start, end = _days(quarter, i)
        records.append(people.record(500 + i, municipality="GM0363", start_date=start, end_date=end,
                                     end_reason="03" if i == 0 else "01"))
    answer = post(api, headers, records)
    assert answer.status_code == 200, answer.text
    receipt = {(line["municipality"], line["period"], line["indicator"]): line for line in answer.json()["receipt"]}
    dropout = receipt[("GM0363", str(quarter), "1")]
    assert dropout["records"] == 3 and dropout["values"] == {"01": 2, "03": 1}
    # the quarter was published at the latest slot and may change at the next one
    assert dropout["published_from"] == second.isoformat()
    # nothing derived from other providers' records: no "geen nieuwe start"
    assert not [key for key in receipt if key[2] in ("3.2", "jbjr.repeat")]


def _pending(api, headers, agb: str) -> list[dict]:
    response = api.get(f"/v1/reports/providers/{agb}/pending", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["lines"]


@pytest.mark.slow
def test_a_change_too_small_to_publish_is_pending_for_its_provider_and_a_large_one_is_published(
    api, token_for, publish, quarter_loaded, person, make_client
) -> None:
    """At the next release, provider A's one late record waits (one child, below every threshold)
    and A's own view says so, with its counts before and after and when it may be shown; provider
    C's twelve late records (one breakdown) are published, so C has nothing pending. B, pulling
    the same view before and after, learns nothing of either change."""
    populations, first, second, quarter = quarter_loaded
    (a_headers, a_people, _), (c_headers, c_people, _) = populations["A"], populations["C"]
    b_headers = populations["B"][0]
    assert _pending(api, a_headers, PROVIDERS["A"]) == []  # everything A sent is in the current release
    b_before = api.get(f"/v1/reports/providers/{PROVIDERS['B']}/pending", headers=b_headers).json()

    start, end = _days(quarter, 7)
    late = a_people.record(900, municipality="GM0363", start_date=start, end_date=end, end_reason="03", hulpvorm="03")
    assert post(api, a_headers, [late]).status_code == 200
    twelve = [c_people.record(1000 + i, municipality="GM0363", start_date=start, end_date=end, end_reason="01",
                              hulpvorm="02") for i in range(12)]
    assert post(api, c_headers, twelve).status_code == 200
    before_release = {line["indicator"]: line for line in _pending(api, c_headers, PROVIDERS["C"])}
    assert before_release["1"]["status"] == "waiting" and before_release["1"]["changed_at_least"] == 12

    publish(second)
    lines = {(line["municipality"], line["period"], line["indicator"]): line
             for line in _pending(api, a_headers, PROVIDERS["A"])}
    dropout = lines[("GM0363", str(quarter), "1")]
    assert dropout["status"] == "waiting" and dropout["framework"] == "jeugdhulp"
    assert (dropout["records"], dropout["published_records"], dropout["changed_at_least"]) == (41, 40, 1)
    assert dropout["release"] and dropout["published_from"] is not None
    assert all(line["period"] == str(quarter) for line in lines.values())
    assert not [key for key in lines if key[2] in ("3.2", "jbjr.repeat")]  # they depend on others' records
    assert _pending(api, c_headers, PROVIDERS["C"]) == []  # twelve children: published
    municipality = token_for("municipality", "GM0363")
    total = api.get("/v1/reports/municipalities/GM0363", params={"period": str(quarter)}, headers=municipality)
    assert next(c for c in total.json()["cells"] if c["indicator"] == "1" and not c["dimensions"])["denominator"] == 97
    # another provider's view does not move: it holds only B's own records
    b_after = api.get(f"/v1/reports/providers/{PROVIDERS['B']}/pending", headers=b_headers).json()
    assert b_after == b_before and b_after["lines"] == []
    # and B cannot ask for A's
    assert_problem(api.get(f"/v1/reports/providers/{PROVIDERS['A']}/pending", headers=b_headers), 404)
    # so does the provider's tool (`ttp records pending`), through the same endpoint
    made = make_client("provider", PROVIDERS["A"])
    tool = TtpClient("https://testserver", Credentials(made.client_id, made.client_secret), http=api)
    printed = pending_tool.render(pending_tool.fetch("https://testserver", PROVIDERS["A"], lambda: tool.credentials,
                                                     client=tool))
    assert f"GM0363        {quarter}  jeugdhulp  1          41       40         1" in printed, printed
    assert "waiting" in printed and "3.2 " not in printed.split(":\n", 1)[1]
    # the uploads page says the same, in the row of that quarter
    for name, expected in (("A", "1 wijziging wacht"), ("C", "gepubliceerd")):
        page = person("provider", PROVIDERS[name]).get(f"/aanbieder/{PROVIDERS[name]}/aanleveringen")
        assert page.status_code == 200
        row = next(r for r in re.findall(r"<tr[^>]*>(.*?)</tr>", page.text, flags=re.S)
                   if period_label(str(quarter)) in r)
        assert expected in " ".join(re.sub(r"<[^>]+>", " ", row).split()), row


def test_the_dpia_annex_states_the_calendar_and_the_guarantee_over_time(api, token_for) -> None:
    officer = token_for("privacy_officer", "TTP")
    annex = api.get("/v1/privacy/dpia", headers={**officer, "Accept": "text/markdown"})
    assert annex.status_code == 200, annex.text
    text = annex.text
    assert "Publicatie en bescherming in de tijd" in text
    assert "elk kwartaal" in text and "45 dagen na het einde ervan" in text
    assert "bij de eerstvolgende publicatie na de eerste publicatie ervan" in text
    assert "nooit het resultaat van één kind" in text
    assert "getoonde aantallen zijn exact" in text  # this module's configuration does not round


@pytest.mark.parametrize("line, message", [
    ('cadence = "weekly"', "publication.cadence: must be 'quarterly' or 'monthly'"),
    ('settle_days = -1', "publication.settle_days"),
    ('revisions = ["whenever"]', "publication.revisions: unknown revision point 'whenever'"),
])
def test_a_calendar_the_protection_cannot_honour_is_refused_naming_the_key(line: str, message: str) -> None:
    from app.privacy.configuration import PrivacyConfigurationError, parse
    from app.records.codelists import load_codelists

    codelists = load_codelists()
    text = EXAMPLE_PRIVACY_CONFIG.read_text(encoding="utf-8")
    key = line.split(" = ")[0]  # each of these keys appears once, in [publication]
    lines = [line if raw.startswith(f"{key} = ") else raw for raw in text.splitlines()]
    assert line in lines
    with pytest.raises(PrivacyConfigurationError) as refused:
        parse("\n".join(lines), known_municipalities=codelists.municipalities.keys(),
              known_regions=codelists.regions.keys())
    assert any(problem.startswith(message) for problem in refused.value.problems), refused.value.problems


@pytest.mark.slow
def test_two_workers_publish_each_release_once_and_stop_on_sigterm(api, token_for, app, environment_for_cli) -> None:
    """`ttp worker` runs the periodic jobs without HTTP; two of them on one database make every
    release due exactly once (the lease, and the unique slot behind it)."""
    import signal

    from sqlalchemy import func, select

    from app.models import AuditEntry, ReleaseRecord

    _, _, quarter = _slots()
    headers = token_for("provider", PROVIDERS["A"])
    people = Population(api, headers)
    records = []
    for i in range(30):
        start, end = _days(quarter, i)
        records.append(people.record(700 + i, municipality="GM0363", start_date=start, end_date=end))
    assert post(api, headers, records).status_code == 200

    workers = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=environment_for_cli,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        # readiness: each worker says it runs the jobs (its SIGTERM handler is in place by then). The
        # test's own app may publish at a period's start too; a SIGTERM before a worker is up killed it.
        for process in workers:
            assert process.stderr is not None
            seen = []
            while not seen or "running the periodic jobs" not in seen[-1]:
                line = process.stderr.readline()
                assert line, "".join(seen)  # the worker ended before it was up
                seen.append(line)
        with app.state.runtime.sessions() as session:
            while True:  # readiness: until both families' releases exist (or a worker dies)
                for process in workers:
                    assert process.poll() is None, process.stderr.read() if process.stderr else ""
                families = set(session.execute(select(ReleaseRecord.family)).scalars())
                if {"municipality:GM0363", f"provider:{PROVIDERS['A']}"} <= families:
                    break
                session.rollback()
                time.sleep(0.5)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        codes = [process.wait(timeout=600) for process in workers]
    assert codes == [0, 0], [p.stderr.read() if p.stderr else "" for p in workers]
    with app.state.runtime.sessions() as session:
        releases = session.execute(select(func.count()).select_from(ReleaseRecord)).scalar_one()
        published = session.execute(select(func.count()).select_from(AuditEntry)
                                    .where(AuditEntry.action == "release.publish")).scalar_one()
        slots = session.execute(select(ReleaseRecord.family, ReleaseRecord.year, ReleaseRecord.framework,
                                       ReleaseRecord.slot)).all()
    assert releases == published == len(set(slots)) >= 2


def test_a_busy_database_is_a_503_with_retry_after_never_a_500() -> None:
    """Publishing a region holds no write lock while it protects, but any lock or connection
    timeout must reach a client as "try again" (the provider tool retries 503), not as an error."""
    import sqlite3

    from fastapi import FastAPI
    from sqlalchemy.exc import OperationalError

    from app import problems

    probe = FastAPI()
    problems.install(probe)

    @probe.get("/locked")
    def locked() -> None:
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))

    @probe.get("/pool")
    def pool() -> None:
        from sqlalchemy.exc import TimeoutError as PoolTimeout
        raise PoolTimeout("QueuePool limit of size 20 overflow 30 reached")

    @probe.get("/broken")
    def broken() -> None:
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such column: x"))

    with TestClient(probe, raise_server_exceptions=False) as client:
        busy = client.get("/locked")
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert busy.json()["type"] == "urn:outcome-ttp:problem:unavailable"
        exhausted = client.get("/pool")
        assert exhausted.status_code == 503 and exhausted.headers["retry-after"] == "5"
        assert client.get("/broken").status_code == 500


@pytest.mark.parametrize("period", ["0000", "0001", "1900-Q2", "2025\n", "2025-Q5"])
def test_a_period_outside_the_domain_is_a_400_naming_it(api, token_for, period: str) -> None:
    municipality = token_for("municipality", "GM0363")
    response = api.get("/v1/reports/municipalities/GM0363", params={"period": period}, headers=municipality)
    body = assert_problem(response, 400)
    assert any("period" in (error.get("field") or "") for error in body["errors"]), body


def test_a_municipality_code_with_a_trailing_newline_is_refused_in_the_configuration() -> None:
    from app.privacy.configuration import PrivacyConfigurationError, parse
    from app.records.codelists import load_codelists

    codelists = load_codelists()
    text = EXAMPLE_PRIVACY_CONFIG.read_text(encoding="utf-8").replace(
        "GM0088 = 20 ", '"GM0088\\n" = 20 ')
    assert '"GM0088\\n" = 20' in text
    with pytest.raises(PrivacyConfigurationError) as refused:
        parse(text, known_municipalities=codelists.municipalities.keys(), known_regions=codelists.regions.keys())
    assert any("not a municipality code" in problem for problem in refused.value.problems)
