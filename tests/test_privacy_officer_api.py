"""The privacy officer's endpoints: who may call them, the entries listing and its exports, and the
DPIA annex and processing register that follow the configuration."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.auth.clients import ALLOWED_SCOPES
from app.main import create_app
from app.models import AuditEntry
from app.settings import EXAMPLE_PRIVACY_CONFIG

OFFICER_PREFIXES = ("/v1/audit", "/v1/privacy")
KNOWN = {
    ("GET", "/v1/audit/entries"), ("GET", "/v1/audit/checkpoint"), ("GET", "/v1/audit/proofs/inclusion"),
    ("GET", "/v1/audit/proofs/consistency"), ("GET", "/v1/audit/verify"), ("GET", "/v1/privacy/configuration"),
    ("GET", "/v1/privacy/dpia"), ("GET", "/v1/privacy/register"),
}
PLACEHOLDERS = {"seq": "1", "size": "1", "from_size": "0", "to_size": "1"}


def all_routes(app):
    """Every route of the app, also those of included routers (newer FastAPI keeps them nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before nested included routers: app.routes is flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def officer_endpoints(app) -> list[tuple[str, str]]:
    found = []
    for route in all_routes(app):
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods and path.startswith(OFFICER_PREFIXES):
            found.extend((method, path) for method in sorted(methods))
    return found


def call(api, method: str, path: str, headers: dict[str, str]):
    return api.request(method, path, params=PLACEHOLDERS, headers=headers)


@pytest.fixture
def officer(token_for):
    return token_for("privacy_officer", "TTP")


# ---- who may call -------------------------------------------------------------------------------
def test_providers_and_municipalities_are_refused_everywhere(api, app, token_for, officer) -> None:
    endpoints = officer_endpoints(app)
    assert KNOWN <= set(endpoints), "the route enumeration lost an endpoint"
    outsiders = {
        "provider": token_for("provider", "12345678"),
        "municipality": token_for("municipality", "GM0363"),
    }
    for who, headers in outsiders.items():
        for method, path in endpoints:
            answer = call(api, method, path, headers)
            assert answer.status_code == 403, (who, method, path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
    # The officer gets through (so the 403s above are about the caller, not the request).
    for method, path in endpoints:
        assert call(api, method, path, officer).status_code == 200, (method, path)
    # Every refusal was itself audited.
    with app.state.runtime.sessions() as session:
        denied = session.execute(
            select(AuditEntry.org_type, AuditEntry.resource)
            .where(AuditEntry.result == "denied", AuditEntry.status == 403)
        ).all()
    assert {(t, r) for t, r in denied} >= {(who, path) for who in outsiders for _, path in endpoints}


def test_admins_read_the_privacy_documents_but_not_the_audit_log(api, app, token_for) -> None:
    admin = token_for("admin", "TTP")
    for method, path in officer_endpoints(app):
        expected = 403 if path.startswith("/v1/audit") else 200
        assert call(api, method, path, admin).status_code == expected, path


def test_no_token_is_401(api, app) -> None:
    for method, path in officer_endpoints(app):
        assert call(api, method, path, {}).status_code == 401, path


# ---- entries ------------------------------------------------------------------------------------
def entries(api, headers, **params) -> list[dict]:
    answer = api.get("/v1/audit/entries", params={"limit": 10000, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_entries_filters(api, token_for, officer) -> None:
    provider = token_for("provider", "12345678")
    for _ in range(3):
        api.get("/v1/privacy/configuration", headers=provider)  # denied
    api.get("/v1/privacy/configuration", headers=officer)
    snapshot = entries(api, officer)
    assert [e["seq"] for e in snapshot] == list(range(1, len(snapshot) + 1))

    denied = entries(api, officer, result="denied")
    assert len(denied) == 3 and all(e["result"] == "denied" and e["org_id"] == "12345678" for e in denied)
    by_org = entries(api, officer, org_id="12345678")
    assert {e["seq"] for e in by_org} == {e["seq"] for e in snapshot if e["org_id"] == "12345678"}
    assert len(by_org) == 4  # three refusals and the token request
    client = denied[0]["client_id"]
    assert {e["seq"] for e in entries(api, officer, client_id=client)} == {
        e["seq"] for e in snapshot if e["client_id"] == client}
    reads = entries(api, officer, action="privacy.configuration.read")
    assert {e["seq"] for e in reads} == {e["seq"] for e in snapshot if e["action"] == "privacy.configuration.read"}
    assert len(reads) == 4
    both = entries(api, officer, action="privacy.configuration.read", result="success")
    assert len(both) == 1 and both[0]["org_type"] == "privacy_officer"

    # Time window: [from, to), also with an offset that is not UTC.
    start, end = snapshot[1]["at"], snapshot[-2]["at"]
    expected = [e["seq"] for e in snapshot if start <= e["at"] < end]
    assert [e["seq"] for e in entries(api, officer, **{"from": start, "to": end})] == expected
    shifted = datetime.fromisoformat(start).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert [e["seq"] for e in entries(api, officer, **{"from": shifted, "to": end})] == expected
    assert entries(api, officer, **{"from": "2999-01-01T00:00:00Z"}) == []


def test_entries_paging(api, officer) -> None:
    for _ in range(5):
        api.get("/v1/privacy/configuration", headers=officer)
    everything = entries(api, officer)
    paged: list[dict] = []
    after = 0
    for _ in range(100):  # each page request adds one entry and reads two: it ends
        answer = api.get("/v1/audit/entries", params={"limit": 2, "after_seq": after}, headers=officer)
        body = answer.json()
        paged.extend(body["entries"])
        if body["next_after_seq"] is None:
            assert "link" not in answer.headers and body["count"] < 2
            break
        assert body["count"] == 2 and body["next_after_seq"] == body["entries"][-1]["seq"]
        assert f"after_seq={body['next_after_seq']}" in answer.headers["link"]
        assert answer.headers["link"].endswith('>; rel="next"')
        after = body["next_after_seq"]
    else:
        pytest.fail("paging did not end")
    assert paged[: len(everything)] == everything
    assert [e["seq"] for e in paged] == list(range(1, len(paged) + 1))


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 10001}, {"after_seq": -1}, {"result": "maybe"}, {"from": "yesterday"},
    {"client_id": "a b"}, {"action": "x" * 101},
])
@pytest.mark.slow
def test_bad_entry_queries_are_400(api, officer, params) -> None:
    answer = api.get("/v1/audit/entries", params=params, headers=officer)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_csv_and_json_lines_exports(api, officer) -> None:
    api.get("/v1/privacy/configuration", headers={**officer, "X-Request-ID": "-2-3"})  # formula-like
    as_json = entries(api, officer, limit=50)
    answer = api.get("/v1/audit/entries", params={"limit": 50}, headers={**officer, "Accept": "text/csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))[: len(as_json)]  # not the JSON read's own entry
    assert list(rows[0]) == list(as_json[0])
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in as_json]
    for r, e in zip(rows, as_json, strict=True):
        assert r["leaf_hash"] == e["leaf_hash"] and r["action"] == e["action"] and r["at"] == e["at"]
        assert (json.loads(r["detail"]) if r["detail"] else None) == e["detail"]
    tricky = next(r for r in rows if r["request_id"].endswith("-2-3"))
    assert tricky["request_id"] == "'-2-3"  # a spreadsheet will not run it as a formula

    lines = api.get("/v1/audit/entries", params={"limit": 50},
                    headers={**officer, "Accept": "application/x-ndjson"})
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in lines.text.splitlines()][: len(as_json)] == as_json
    # Preference by quality value; JSON when nothing offered is acceptable.
    preferred = api.get("/v1/audit/entries", headers={**officer, "Accept": "text/csv;q=0.5, application/x-ndjson"})
    assert preferred.headers["content-type"].startswith("application/x-ndjson")
    fallback = api.get("/v1/audit/entries", headers={**officer, "Accept": "image/png"})
    assert fallback.headers["content-type"].startswith("application/json")


def test_reading_the_log_is_audited_with_counts(api, app, officer) -> None:
    api.get("/v1/privacy/configuration", headers=officer)
    listed = api.get("/v1/audit/entries", params={"limit": 3}, headers={**officer, "Accept": "text/csv"})
    assert listed.status_code == 200
    api.get("/v1/audit/verify", headers=officer)
    with app.state.runtime.sessions() as session:
        log = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(2)).scalars())
    verify_entry, list_entry = log
    assert (list_entry.action, list_entry.role, list_entry.detail) == (
        "audit.entries.read", "audit:read", {"count": 3, "format": "text/csv"})
    assert verify_entry.action == "audit.verify" and verify_entry.detail["ok"] is True


def test_verify_endpoint(api, officer) -> None:
    api.get("/v1/audit/checkpoint", headers=officer)
    body = api.get("/v1/audit/verify", headers=officer).json()
    assert body["ok"] is True and body["first_problem"] is None
    assert body["entries"] >= 3 and body["checkpoints_checked"] == 1
    assert len(body["root_hash"]) == 64


# ---- the DPIA annex and the register ------------------------------------------------------------
def test_dpia_annex_markdown_and_html(api, app, officer) -> None:
    runtime = app.state.runtime
    markdown = api.get("/v1/privacy/dpia", headers=officer)
    assert markdown.status_code == 200
    assert markdown.headers["content-type"].startswith("text/markdown")
    text = markdown.text
    assert text.startswith("# DPIA-bijlage")
    for expected in (runtime.privacy.sha256, "Minimale celgrootte: 10", "| GM0088 | Schiermonnikoog | 20 |",
                     "Afrondingsbasis: 5", "onder 3 wordt als bandbreedte getoond", "Secundaire onderdrukking",
                     "Resultaatrecords: 24 maanden", "Auditregels: 5 jaar", "HMAC-SHA256", "AES-256-GCM",
                     f"Sleutel fase 2 in gebruik: `{runtime.keyring.active['pseudonym']}`",
                     f"KEK in gebruik: `{runtime.keyring.active['kek']}`", "GDPR art. 9(2)(a)", "postcode",
                     "Friesland (18 gemeenten)"):
        assert expected in text, expected
    for scopes in ALLOWED_SCOPES.values():
        for scope in scopes:
            assert f"| {scope} |" in text
    assert api.get("/v1/privacy/dpia", headers=officer).text == text  # deterministic

    page = api.get("/v1/privacy/dpia", headers={**officer, "Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    body = page.text
    assert body.startswith("<!DOCTYPE html>") and "<h1>DPIA-bijlage: Outcome TTP</h1>" in body
    assert '<html lang="nl">' in body
    assert "<script" not in body and "<style" not in body and "style=" not in body
    assert "<td>GM0088</td><td>Schiermonnikoog</td><td>20</td>" in body
    assert "regio&#x27;s" in body  # escaped


def test_processing_register(api, app, officer) -> None:
    register = api.get("/v1/privacy/register", headers=officer)
    assert register.status_code == 200 and register.headers["content-type"].startswith("application/json")
    body = register.json()
    assert body["configuration"]["sha256"] == app.state.runtime.privacy.sha256
    assert body["retention"]["records_months"] == 24 and body["retention"]["audit_years"] == 5
    assert body["purposes"][0]["id"] == "outcome-monitoring"
    assert {b["article"] for b in body["purposes"][0]["legal_bases"]} == {"GDPR art. 6(1)(a)", "GDPR art. 9(2)(a)"}
    assert "BSN" in body["never_accepted"] and body["recipients"] and body["security_measures"]
    assert {r["organisation"]: r["scopes"] for r in body["access_roles"]} == {
        str(k): list(v) for k, v in ALLOWED_SCOPES.items()}
    page = api.get("/v1/privacy/register", headers={**officer, "Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Verwerkingsregister (art. 30 AVG): Outcome TTP</h1>" in page.text
    assert "<script" not in page.text and "style=" not in page.text


def test_the_annex_follows_the_configuration(api, officer, settings, tmp_path: Path) -> None:
    original = EXAMPLE_PRIVACY_CONFIG.read_text()
    changed = (original.replace("minimum_cell_size = 10", "minimum_cell_size = 15")
               .replace("records_months = 24", "records_months = 36"))
    assert changed != original
    path = tmp_path / "privacy.toml"
    path.write_text(changed)
    before = api.get("/v1/privacy/dpia", headers=officer).text
    before_register = api.get("/v1/privacy/register", headers=officer).json()
    other = create_app(settings.model_copy(update={"privacy_config": path}))
    with TestClient(other, base_url="https://testserver") as second:
        after = second.get("/v1/privacy/dpia", headers=officer).text
        after_register = second.get("/v1/privacy/register", headers=officer).json()
    assert "Minimale celgrootte: 10" in before and "Resultaatrecords: 24 maanden" in before
    assert "Minimale celgrootte: 15" in after and "Resultaatrecords: 36 maanden" in after
    assert "Minimale celgrootte: 10" not in after and "24 maanden" not in after
    assert other.state.runtime.privacy.sha256 in after and other.state.runtime.privacy.sha256 not in before
    changed_lines = set(after.splitlines()) ^ set(before.splitlines())
    assert all(("celgrootte" in line or "maanden" in line or "SHA-256" in line or
                other.state.runtime.privacy.sha256 in line or line.startswith("| 2025-01 |"))
               for line in changed_lines), changed_lines
    assert after_register["retention"]["records_months"] == 36 != before_register["retention"]["records_months"]
