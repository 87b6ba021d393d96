"""The privacy officer's pages over real HTTP: a person logs in with password and TOTP and sees the
audit log, its verification, the checkpoint, the configuration, the DPIA annex and register, the
publication register and the retention runs, in Dutch. Other kinds of users get 403; a form
without its CSRF token changes nothing; no page shows a pseudonym, token or secret."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from app.audit import checkpoint_store, reading
from app.models import AuditEntry
from app.privacy import documents
from tests.test_audit_verification import drop_append_only
from tests.web_person import PASSWORD, hidden

PAGES = ("/privacy", "/privacy/auditlog", "/privacy/verificatie", "/privacy/checkpoint", "/privacy/configuratie",
         "/privacy/dpia", "/privacy/register", "/privacy/publicaties", "/privacy/bewaartermijn")


# ---- logging in as a person: the `person` fixture (tests/conftest.py) ------------------------------------
@pytest.fixture
def officer(app, person) -> TestClient:
    return person("privacy_officer", app.state.runtime.settings.ttp_id)


def csrf(client: TestClient, path: str = "/privacy/verificatie") -> str:
    return hidden(client.get(path).text, "csrf_token")


def entries_in_log(app) -> int:
    with app.state.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags out, whitespace folded, entities decoded."""
    inline = re.sub(r"</?(strong|code|span|a|em|samp)\b[^>]*>", "", page)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inline)))


# ---- the pages --------------------------------------------------------------------------------------
def test_the_officer_logs_in_and_sees_the_state_of_the_log(app, officer) -> None:
    start = officer.get("/privacy")
    assert start.status_code == 200
    seen = text_of(start.text)
    assert "Privacy officer" in seen
    assert "Nog geen ondertekend controlepunt." in seen
    assert "Het log is nog niet geverifieerd." in seen
    assert re.search(r"Auditlog \d+ regels", seen)

    made = officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")},
                        follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"] == "/privacy/checkpoint"
    officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)})
    seen = text_of(officer.get("/privacy").text)
    assert re.search(r"Laatste controlepunt #1 van \d{1,2} \w+ \d{4} \d\d:\d\d, over \d+ regels", seen), seen
    assert re.search(r"Laatste verificatie .*\(op deze pagina's\): intact, \d+ regels", seen), seen


def test_the_audit_log_filters_pages_and_exports_exactly_the_filtered_rows(app, api, officer, token_for) -> None:
    municipality = token_for("municipality", "GM0363")
    for _ in range(3):
        assert api.get("/v1/audit/entries", headers=municipality).status_code == 403  # denied, logged
    assert api.get("/v1/reports/municipalities/GM0344", headers=municipality).status_code in (403, 404)

    page = officer.get("/privacy/auditlog", params={"soort": "municipality", "organisatie": "GM0363",
                                                    "resultaat": "denied"})
    assert page.status_code == 200
    seen = text_of(page.text)
    assert "voldoen aan het filter" in seen
    rows = re.findall(r'<tr class="utrecht-table__row">\s*<td class="utrecht-table__cell '
                      r'utrecht-table__cell--numeric-column">(\d+)</td>', page.text)
    with app.state.runtime.sessions() as session:
        where = reading.EntryFilter(org_type="municipality", org_id="GM0363", result="denied")
        expected = reading.entries(session, where, limit=1000)
    assert len(expected) >= 3
    assert [int(r) for r in rows] == sorted((e["seq"] for e in expected), reverse=True)  # newest first
    assert f"{len(expected)} regels voldoen aan het filter" in seen
    assert "Geweigerd" in seen and "Gelukt" not in seen.split("Details", 1)[1]
    assert "audit.entries.read" in seen

    exported = officer.get("/privacy/auditlog", params={"soort": "municipality", "organisatie": "GM0363",
                                                        "resultaat": "denied", "formaat": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(line["seq"]) for line in lines] == [e["seq"] for e in expected]
    assert exported.text == reading.csv_text(expected)
    # the API gives the same bytes for the same filter: one implementation
    officer_token = token_for("privacy_officer", "TTP")
    from_api = api.get("/v1/audit/entries", params={"org_type": "municipality", "org_id": "GM0363",
                                                    "result": "denied"},
                       headers={**officer_token, "Accept": "text/csv"})
    assert from_api.status_code == 200 and from_api.text == exported.text

    jsonl = officer.get("/privacy/auditlog", params={"organisatie": "GM0363", "resultaat": "denied",
                                                     "formaat": "jsonl"})
    assert [json.loads(line)["seq"] for line in jsonl.text.splitlines()] == [e["seq"] for e in expected]

    # a period: today holds everything, tomorrow nothing; a wrong date is explained, not a 500
    from datetime import date, timedelta

    today = date.today()
    assert "Geen regels voldoen aan het filter." in text_of(
        officer.get("/privacy/auditlog", params={"van": (today + timedelta(days=2)).isoformat()}).text)
    everything = officer.get("/privacy/auditlog", params={"van": (today - timedelta(days=1)).isoformat(),
                                                          "tot": (today + timedelta(days=1)).isoformat()})
    assert "voldoen aan het filter" in text_of(everything.text)
    wrong = officer.get("/privacy/auditlog", params={"van": "1 december"})
    assert wrong.status_code == 400
    assert "Vanaf: vul een datum in als 2026-12-01" in text_of(wrong.text)
    assert 'id="van" name="van" aria-invalid="true"' in wrong.text
    for edge in ("0001-01-01", "9999-12-31"):  # beyond what a UTC moment can hold: explained, not a 500
        far = officer.get("/privacy/auditlog", params={"van": edge, "tot": edge})
        assert far.status_code == 400 and "kies een jaar tussen 1900 en 9998" in text_of(far.text)
    backwards = officer.get("/privacy/auditlog", params={"van": "2026-12-02", "tot": "2026-12-01"})
    assert backwards.status_code == 400 and "ligt vóór de datum bij 'Vanaf'" in text_of(backwards.text)
    assert officer.get("/privacy/auditlog", params={"resultaat": "gelukt"}).status_code == 400


def test_the_audit_log_pages_newest_first(app, api, officer, token_for) -> None:
    headers = token_for("privacy_officer", "TTP")
    for _ in range(55):
        api.get("/v1/privacy/configuration", headers=headers)
    first = text_of(officer.get("/privacy/auditlog").text)
    total = entries_in_log(app)
    assert "Pagina 1 van 2" in first
    assert "u ziet 1 tot en met 50, de nieuwste eerst" in first
    second = officer.get("/privacy/auditlog", params={"pagina": 2})
    assert "Pagina 2 van 2" in text_of(second.text)
    assert re.search(r'numeric-column">1</td>', second.text)  # the oldest entry is on the last page
    assert total > 50


def test_verification_says_intact_on_an_honest_log(app, officer) -> None:
    officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")})
    answer = officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)})
    assert answer.status_code == 200
    seen = text_of(answer.text)
    assert re.search(r"Het auditlog is intact: \d+ regels, laatste controlepunt #1 van \d{1,2} \w+ \d{4} "
                     r"\d\d:\d\d, handtekening geldig\.", seen), seen
    assert "het ondertekende controlepunt past er precies bij en zijn handtekening is geldig" in seen
    assert "niet intact" not in seen
    with app.state.runtime.sessions() as session:
        entry = reading.latest_of(session, ("page.privacy.verification.run",))
    assert entry is not None and entry.detail["ok"] is True and entry.result == "success"


def test_verification_names_the_changed_entry_in_plain_dutch(app, api, officer, token_for) -> None:
    headers = token_for("privacy_officer", "TTP")
    for _ in range(5):
        api.get("/v1/privacy/configuration", headers=headers)
    drop_append_only(app.state.runtime.engine)
    with app.state.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE audit_entries SET org_id = 'SOMEONE' WHERE seq = 4"))
    answer = officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)})
    seen = text_of(answer.text)
    assert "Het auditlog is niet intact" in seen
    assert "Regel 4 is veranderd nadat hij geschreven werd." in seen
    assert "Wat dit betekent:" in seen and "schrijftoegang tot de database" in seen
    assert "audit log broken: entry 4 was changed" in seen  # the same words as `ttp audit verify`
    assert "Het auditlog is intact" not in seen


def test_a_removed_entry_and_a_cut_log_are_named(app, api, officer, token_for) -> None:
    headers = token_for("privacy_officer", "TTP")
    for _ in range(5):
        api.get("/v1/privacy/configuration", headers=headers)
    officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")})
    saved = officer.get("/privacy/checkpoint", params={"formaat": "json"})
    assert saved.status_code == 200
    covered = saved.json()["size"]
    drop_append_only(app.state.runtime.engine)
    with app.state.runtime.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq = 3"))
    seen = text_of(officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)}).text)
    assert "Regel 3 ontbreekt." in seen and "regels uit het log zijn verwijderd" in seen

    # cut the tail (and with it the removed entry's gap): the officer's saved checkpoint shows it
    keep = 2
    with app.state.runtime.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_entries WHERE seq > :keep"), {"keep": keep})
        connection.execute(text("DELETE FROM audit_checkpoints"))
    token = csrf(officer)  # this page view is entry keep+1
    answer = officer.post("/privacy/verificatie", data={"csrf_token": token},
                          files={"controlepunt": ("controlepunt.json", saved.content, "application/json")})
    seen = text_of(answer.text)
    assert "Het auditlog is niet intact" in seen
    assert re.search(rf"Het log is ingekort: het heeft nog \d+ regels, maar uw bewaarde controlepunt van .* "
                     rf"besloeg er {covered}\.", seen), seen


def test_a_tampered_checkpoint_file_is_refused_in_words(officer) -> None:
    officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")})
    document = officer.get("/privacy/checkpoint", params={"formaat": "json"}).json()
    document["size"] = document["size"] + 1
    answer = officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)},
                          files={"controlepunt": ("c.json", json.dumps(document).encode(), "application/json")})
    seen = text_of(answer.text)
    assert "De handtekening van uw bewaarde controlepunt is ongeldig." in seen
    unreadable = officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)},
                              files={"controlepunt": ("c.json", b"not json", "application/json")})
    assert unreadable.status_code == 400
    assert "Het bewaarde controlepunt is niet te lezen." in text_of(unreadable.text)


def test_the_checkpoint_page_shows_the_signed_head_and_its_offline_check_works(app, officer, tmp_path) -> None:
    empty = text_of(officer.get("/privacy/checkpoint").text)
    assert "Er is nog geen ondertekend controlepunt." in empty
    officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")})
    page = officer.get("/privacy/checkpoint")
    seen = text_of(page.text)
    assert "Laatste controlepunt: #1" in seen
    assert "De handtekening is geldig (Ed25519" in seen
    assert "Vingerafdruk van de sleutel (SHA-256)" in seen
    assert "ttp audit verify --checkpoint controlepunt-" in seen
    download = officer.get("/privacy/checkpoint", params={"formaat": "json"})
    document = download.json()
    runtime = app.state.runtime
    with runtime.sessions() as session:
        record = checkpoint_store.latest(session)
        assert record is not None
        cp = record.as_checkpoint()
    assert document == checkpoint_store.checkpoint_document(cp, checkpoint_store.public_key(runtime.keyring, cp.key_id))
    assert f"controlepunt-{cp.size}.json" in download.headers["content-disposition"]

    # the steps on the page, run as written
    if not (shutil.which("jq") and shutil.which("openssl")):
        pytest.skip("jq or openssl not installed")
    name = f"controlepunt-{cp.size}.json"
    (tmp_path / name).write_bytes(download.content)
    steps = re.findall(r'<pre class="utrecht-code-block ttp-pre">(.*?)</pre>', page.text, flags=re.S)
    # (the blocks that are commands: the page also shows the signed text, whose base64 root hash
    # holds "jq" about once in a hundred checkpoints, so "jq" anywhere in a block is no test)
    commands = [html.unescape(s) for s in steps if s.lstrip().startswith(("jq ", "openssl "))]
    assert commands
    outputs = [subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=60)
               for command in commands]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    assert "Signature Verified Successfully" in outputs[1].stdout
    fingerprint = re.search(r"Vingerafdruk van de sleutel \(SHA-256\)</th><td[^>]*><code[^>]*>([0-9a-f ]+)</code>",
                            page.text)
    assert fingerprint and outputs[2].stdout.split()[0] == fingerprint.group(1).replace(" ", "")


def test_the_configuration_page_shows_what_the_service_enforces(app, officer) -> None:
    config = app.state.runtime.privacy.configuration
    page = officer.get("/privacy/configuratie")
    seen = text_of(page.text)
    assert f"Minimale celgrootte {config.disclosure.minimum_cell_size}" in seen
    assert app.state.runtime.privacy.sha256 in seen
    assert f"Bewaartermijn records {config.retention.records_months} maanden" in seen
    assert "Publicatie elk kwartaal" in seen or "Publicatie elke maand" in seen
    for code, threshold in config.disclosure.municipality_thresholds.items():
        assert f"{code} {threshold}" in seen
    toml = officer.get("/privacy/configuratie", params={"formaat": "toml"})
    assert toml.text == app.state.runtime.privacy.text


def test_the_dpia_annex_and_the_register_are_pages_behind_login(app, officer) -> None:
    runtime = app.state.runtime
    facts = documents.ServiceFacts.from_runtime(runtime)
    dpia = officer.get("/privacy/dpia")
    seen = text_of(dpia.text)
    assert "DPIA-bijlage" in seen and "Uitloggen" in seen  # inside the frame, logged in
    annex = documents.dpia_annex(runtime.privacy, facts)
    for section in annex.sections:
        assert section.title in seen
    assert '<article class="ttp-document">' in dpia.text and 'lang="en"' not in dpia.text
    markdown = officer.get("/privacy/dpia", params={"formaat": "md"})
    assert markdown.text == documents.render_markdown(annex)

    register = officer.get("/privacy/register")
    seen = text_of(register.text)
    assert "Verwerkingsregister (artikel 30 AVG)" in seen
    assert "Beveiligingsmaatregelen (art. 32 AVG)" in seen
    as_json = officer.get("/privacy/register", params={"formaat": "json"}).json()
    assert as_json == documents.processing_register(runtime.privacy, facts)

    stranger = TestClient(app, base_url="https://testserver")
    for path in ("/privacy/dpia", "/privacy/register"):
        answer = stranger.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/inloggen?volgende={path}"


@pytest.mark.slow
def test_the_publication_register_lists_releases_and_shows_a_changed_one(app, api, officer, token_for,
                                                                         publish) -> None:
    from tests.test_reports_api import load_records

    empty = text_of(officer.get("/privacy/publicaties").text)
    assert "Er is nog niets gepubliceerd." in empty
    year = load_records(api, token_for, __import__("datetime").date.today().year - 1)
    publish()
    page = officer.get("/privacy/publicaties")
    seen = text_of(page.text)
    assert re.search(r"Alle \d+ publicaties zijn ongewijzigd", seen), seen
    assert "Gemeente Amsterdam (GM0363)" in seen
    assert f"Jeugdhulp {year}" in seen
    assert "Geldig" in seen
    only = text_of(officer.get("/privacy/publicaties", params={"soort": "provider"}).text)
    assert "Gemeente Amsterdam" not in only.split("Handtekening", 1)[1]

    engine = app.state.runtime.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE releases DISABLE TRIGGER releases_no_update"))
        else:
            connection.execute(text("DROP TRIGGER releases_no_update"))
        changed = connection.execute(text("SELECT release_id FROM releases WHERE family = 'municipality:GM0363' "
                                          "ORDER BY id LIMIT 1")).scalar_one()
        connection.execute(text("UPDATE releases SET content_sha256 = :h WHERE release_id = :r"),
                           {"h": "0" * 64, "r": changed})
    seen = text_of(officer.get("/privacy/publicaties").text)
    assert re.search(r"1 van de \d+ publicaties klopt niet", seen), seen
    assert "Ongeldig: gewijzigd na publicatie" in seen
    verified = text_of(officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)}).text)
    assert "Een publicatie is niet intact" in verified
    assert f"Publicatie {changed}: de inhoud of de handtekening klopt niet meer" in verified


def test_the_retention_page_lists_runs_with_counts_only(app, officer) -> None:
    from app import maintenance

    assert "Er zijn nog geen records verwijderd" in text_of(officer.get("/privacy/bewaartermijn").text)
    maintenance.retention(app.state.runtime, source="cli")
    seen = text_of(officer.get("/privacy/bewaartermijn").text)
    months = app.state.runtime.privacy.configuration.retention.records_months
    assert "1 ronde vastgelegd" in seen
    assert f"met de hand (ttp retention run) 0 {months} maanden" in seen


# ---- who may look, and what never shows -----------------------------------------------------------------
def test_municipality_and_provider_users_get_403_and_change_nothing(app, person) -> None:
    for client in (person("municipality", "GM0363"), person("provider", "40000001")):
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 403, path
            assert "Geen toegang" in answer.text
        token = hidden(client.get("/privacy").text, "csrf_token")  # the user's own token, from the logout form
        before = entries_in_log(app)
        answer = client.post("/privacy/checkpoint", data={"csrf_token": token})
        assert answer.status_code == 403
        with app.state.runtime.sessions() as session:
            assert checkpoint_store.latest(session) is None
        assert entries_in_log(app) == before + 1  # only the denial itself


def test_a_form_without_its_csrf_token_is_refused(app, officer) -> None:
    refused = officer.post("/privacy/checkpoint", data={})
    assert refused.status_code == 403
    assert "Dit formulier is verlopen" in refused.text
    wrong = officer.post("/privacy/verificatie", data={"csrf_token": "not-the-token"})
    assert wrong.status_code == 403
    with app.state.runtime.sessions() as session:
        assert checkpoint_store.latest(session) is None
        assert reading.latest_of(session, ("page.privacy.verification.run",)).result == "denied"


def test_no_page_shows_a_pseudonym_token_or_secret(app, api, officer, token_for) -> None:
    from tests.test_records_api import Population, post

    provider = token_for("provider", "40000001")
    people = Population(api, provider)
    records = [people.record(n) for n in range(3)]
    assert post(api, provider, records).status_code == 200
    with app.state.runtime.engine.connect() as connection:
        pseudonyms = [row[0] for row in connection.execute(text("SELECT pseudonym FROM consents"))]
    assert pseudonyms
    stage1 = [r["pseudonym"] for r in records]
    bearer = provider["Authorization"].split()[1]
    officer.post("/privacy/checkpoint", data={"csrf_token": csrf(officer, "/privacy/checkpoint")})
    pages = [officer.get(path).text for path in PAGES]
    pages.append(officer.post("/privacy/verificatie", data={"csrf_token": csrf(officer)}).text)
    pages.append(officer.get("/privacy/auditlog", params={"formaat": "csv"}).text)
    for page in pages:
        for secret in [*pseudonyms, *stage1, bearer, PASSWORD]:
            assert secret not in page
        assert not re.search(r"\bp[12]\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{20,}", page)  # no pseudonym of any key
        assert "eyJ" not in page  # no JWT
        assert "PRIVATE KEY" not in page and "client_secret" not in page
