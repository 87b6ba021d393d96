"""Consents in bulk (POST /v1/consents/batches) and found again by reference (GET /v1/consents?consent_ref=)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.test_consents_api import BSNS, OTHER_PROVIDER, PROVIDER, consent_body
from tests.test_http_conventions import assert_problem


@pytest.fixture
def provider(token_for):
    return token_for("provider", PROVIDER)


def test_a_batch_registers_every_consent_and_a_rerun_reuses_them(api, provider) -> None:
    bodies = [consent_body(bsn) for bsn in BSNS]
    first = api.post("/v1/consents/batches", json={"consents": bodies}, headers=provider)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["created"], answer["existing"]) == (4, 0)
    assert [c["consent_ref"] for c in answer["consents"]] == [b["consent_ref"] for b in bodies]
    assert {c["status"] for c in answer["consents"]} == {"active"}
    ids = [c["consent_id"] for c in answer["consents"]]

    again = api.post("/v1/consents/batches", json={"consents": bodies}, headers=provider).json()
    assert (again["created"], again["existing"]) == (0, 4)
    assert [c["consent_id"] for c in again["consents"]] == ids
    assert not any(c["created"] for c in again["consents"])

    # One at a time, the same reference is still a 409 (unchanged), and the lookup finds it.
    assert_problem(api.post("/v1/consents", json=bodies[0], headers=provider), 409)
    found = api.get("/v1/consents", params={"consent_ref": bodies[1]["consent_ref"]}, headers=provider)
    assert found.status_code == 200, found.text
    assert found.json() == {"consent_id": ids[1], "status": "active"}


def test_a_batch_with_errors_stores_nothing_and_names_every_index(api, provider) -> None:
    bodies = [
        consent_body(BSNS[0]),
        consent_body(BSNS[1], given_by="youth", age_at_consent=8),  # under 12: parents or guardian
        consent_body(BSNS[2], pseudonym="not-a-pseudonym"),
        consent_body(BSNS[3], consent_ref=consent_body(BSNS[0])["consent_ref"]),  # repeated reference
    ]
    response = api.post("/v1/consents/batches", json={"consents": bodies}, headers=provider)
    problem = assert_problem(response, 400)
    assert {(e["index"], e["field"]) for e in problem["errors"]} == {
        (1, "given_by"), (2, "pseudonym"), (3, "consent_ref")}
    lookup = api.get("/v1/consents", params={"consent_ref": bodies[0]["consent_ref"]}, headers=provider)
    assert_problem(lookup, 404)


def test_a_reference_registered_for_another_person_is_an_error(api, provider) -> None:
    assert api.post("/v1/consents", json=consent_body(BSNS[0]), headers=provider).status_code == 201
    other_person = consent_body(BSNS[1], consent_ref=consent_body(BSNS[0])["consent_ref"])
    problem = assert_problem(api.post("/v1/consents/batches", json={"consents": [other_person]}, headers=provider),
                             400)
    assert [(e["index"], e["field"]) for e in problem["errors"]] == [(0, "consent_ref")]


def test_the_lookup_answers_only_the_registering_provider(api, provider, token_for) -> None:
    body = consent_body(BSNS[0], given_at=(date.today() - timedelta(days=3)).isoformat())
    assert api.post("/v1/consents", json=body, headers=provider).status_code == 201
    other = token_for("provider", OTHER_PROVIDER)
    assert_problem(api.get("/v1/consents", params={"consent_ref": body["consent_ref"]}, headers=other), 404)
    municipality = token_for("municipality", "GM0363")
    assert_problem(api.get("/v1/consents", params={"consent_ref": body["consent_ref"]}, headers=municipality), 403)
