"""POST and DELETE /v1/notes: screened for personal data, only where the provider has records, own notes only."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.models import AuditEntry, ProviderNote
from tests.test_http_conventions import assert_problem
from tests.test_records_api import PROVIDER, Population, post

ISSUE_EXAMPLE = "Jan de Vries (BSN 111222333, Damstraat 1)"
OTHER = "40000009"


@pytest.fixture
def provider(token_for):
    return token_for("provider", PROVIDER)


@pytest.fixture
def with_records(api, provider):
    """The provider has records for GM0363 (Amsterdam) and none for GM0344 (Utrecht)."""
    people = Population(api, provider)
    assert post(api, provider, [people.record(n) for n in range(3)]).status_code == 200
    return provider


def notes(app) -> list[tuple[str, str, str, str]]:
    with app.state.runtime.sessions() as session:
        return [(n.provider_id, n.municipality, n.period, n.text)
                for n in session.execute(select(ProviderNote)).scalars()]


def audit(app, action: str) -> list[AuditEntry]:
    with app.state.runtime.sessions() as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


def note(text: str = "Wachtlijst in Q1 door personeelstekort.", municipality: str = "GM0363") -> dict[str, str]:
    return {"municipality": municipality, "period": "2025-Q1", "text": text}


def test_the_issues_example_is_refused_and_nothing_is_stored(api, app, with_records) -> None:
    problem = assert_problem(api.post("/v1/notes", json=note(ISSUE_EXAMPLE), headers=with_records), 400)
    assert problem["errors"] == [
        {"field": "text", "reason": "looks like a BSN at position 19"},
        {"field": "text", "reason": "looks like an address with house number at position 30"},
    ]
    assert "nothing was stored" in problem["detail"]
    assert notes(app) == []
    refused = audit(app, "notes.save")[-1]
    assert refused.result == "rejected" and refused.detail == {"refused": ["adres", "bsn"]}
    everything = json.dumps([problem, [e.detail for e in audit(app, "notes.save")]])
    assert "111222333" not in everything and "Damstraat" not in everything


@pytest.mark.parametrize("text", ["Bel de moeder op 06-12345678", "mail jan@example.nl", "geboren 12-03-2014",
                                  "woont op 1234 AB 12", "BSN 111 222 333"])
def test_each_kind_of_personal_data_is_refused(api, app, with_records, text: str) -> None:
    assert_problem(api.post("/v1/notes", json=note(text), headers=with_records), 400)
    assert notes(app) == []


def test_a_clean_story_is_stored_and_replaced(api, app, with_records) -> None:
    assert api.post("/v1/notes", json=note(), headers=with_records).status_code == 201
    saved = api.post("/v1/notes", json=note("Sinds 1 maart 2025 een extra team."), headers=with_records)
    assert saved.status_code == 201, saved.text
    assert notes(app) == [(PROVIDER, "GM0363", "2025-Q1", "Sinds 1 maart 2025 een extra team.")]


def test_no_story_where_the_provider_has_no_records(api, app, with_records, token_for) -> None:
    problem = assert_problem(api.post("/v1/notes", json=note(municipality="GM0344"), headers=with_records), 403)
    assert problem["errors"] == [{"field": "municipality", "reason": "no records of yours"}]
    stranger = token_for("provider", OTHER)
    assert_problem(api.post("/v1/notes", json=note(), headers=stranger), 403)
    assert notes(app) == []


def test_a_provider_withdraws_its_own_story_only(api, app, with_records, token_for) -> None:
    assert api.post("/v1/notes", json=note(), headers=with_records).status_code == 201
    stranger = token_for("provider", OTHER)
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q1", headers=stranger), 404)
    assert len(notes(app)) == 1
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q2", headers=with_records), 404)
    assert api.delete("/v1/notes/GM0363/2025-Q1", headers=with_records).status_code == 204
    assert notes(app) == []
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q1", headers=with_records), 404)
    entries = audit(app, "notes.withdraw")
    assert [(e.org_id, e.status, e.resource) for e in entries] == [
        (OTHER, 404, "notes/GM0363/2025-Q1"), (PROVIDER, 404, "notes/GM0363/2025-Q2"),
        (PROVIDER, 204, "notes/GM0363/2025-Q1"), (PROVIDER, 404, "notes/GM0363/2025-Q1")]


def test_withdrawing_needs_a_provider_token_and_a_valid_path(api, with_records, token_for) -> None:
    municipality = token_for("municipality", "GM0363")
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q1", headers=municipality), 403)
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q1"), 401)
    assert_problem(api.delete("/v1/notes/Amsterdam/2025-Q1", headers=with_records), 400)
    assert_problem(api.delete("/v1/notes/GM0363/2025-Q5", headers=with_records), 400)
