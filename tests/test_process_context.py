"""The JB/JR process context (app.reports.process_context): screened, only where the provider has
JB or JR records, own contexts only, shown for overlapping periods."""

from __future__ import annotations

import copy

import pytest

from app.records.schemas import EXAMPLE_RECORDS
from app.reports import notes, process_context
from app.reports.periods import Period
from tests.test_http_conventions import assert_problem
from tests.test_records_api import PROVIDER, Population, post

OTHER = "40000009"


def jb_record(people: Population, n: int, municipality: str = "GM0363") -> dict:
    record = copy.deepcopy(EXAMPLE_RECORDS["jeugdbescherming"])
    pseudonym, consent_id = people.person(n, municipality)
    record.update(record_id=f"jb-{n}", pseudonym=pseudonym, consent_id=consent_id, municipality=municipality,
                  start_date="2024-02-01", end_date="2025-02-20")
    return record


@pytest.fixture
def loaded(api, token_for):
    """The provider has JB records for GM0363 (Amsterdam) and only jeugdhulp records for GM0344 (Utrecht)."""
    headers = token_for("provider", PROVIDER)
    people = Population(api, headers)
    records = [jb_record(people, n) for n in range(2)] + [people.record(10, municipality="GM0344")]
    response = post(api, headers, records)
    assert response.status_code == 200, response.text
    return headers


@pytest.fixture
def session(app, loaded):
    with app.state.runtime.sessions() as session:
        yield session


FIELDS = {"working_relationship": "Veel wisselingen van jeugdbeschermer door verloop.",
          "issues": "Wachtlijst van zes weken sinds 1 maart 2025.", "methods": ""}


def test_a_context_is_saved_for_a_jbjr_municipality_and_read_back(session) -> None:
    saved = process_context.save(session, provider_id=PROVIDER, municipality="GM0363", period=Period.parse("2025-Q1"),
                                 fields=FIELDS)
    session.commit()
    assert saved.fields == {"working_relationship": FIELDS["working_relationship"], "issues": FIELDS["issues"]}
    assert saved.labelled() == [("Werkrelatie", FIELDS["working_relationship"]), ("Kwesties", FIELDS["issues"])]
    assert process_context.municipalities(session, PROVIDER) == ["GM0363"]
    assert notes.municipalities_with_records(session, PROVIDER) == ["GM0344", "GM0363"]
    year = process_context.overlapping(session, municipalities=["GM0363"], period=Period.parse("2025"))
    assert [(e.provider_id, e.period) for e in year] == [(PROVIDER, "2025-Q1")]
    assert process_context.overlapping(session, municipalities=["GM0363"], period=Period.parse("2025-Q2")) == []
    assert process_context.overlapping(session, municipalities=["GM0363"], period=Period.parse("2025"),
                                       providers=[OTHER]) == []
    # Saving again replaces every field: one left out is cleared.
    again = process_context.save(session, provider_id=PROVIDER, municipality="GM0363",
                                 period=Period.parse("2025-Q1"), fields={"methods": "Deltamethode"})
    assert again.fields == {"methods": "Deltamethode"}
    assert len(process_context.of_provider(session, PROVIDER)) == 1


def test_no_context_without_jbjr_records_there(session) -> None:
    with pytest.raises(notes.NoRecords):
        process_context.save(session, provider_id=PROVIDER, municipality="GM0344", period=Period.parse("2025-Q1"),
                             fields=FIELDS)
    with pytest.raises(notes.NoRecords):
        process_context.save(session, provider_id=OTHER, municipality="GM0363", period=Period.parse("2025-Q1"),
                             fields=FIELDS)
    assert process_context.of_provider(session, PROVIDER) == []


def test_every_field_is_screened_and_nothing_is_stored(session) -> None:
    with pytest.raises(process_context.PersonalData) as refused:
        process_context.save(session, provider_id=PROVIDER, municipality="GM0363", period=Period.parse("2025-Q1"),
                             fields={**FIELDS, "target_group": "Jan (BSN 111222333) en zijn moeder, 06-12345678"})
    assert {name: [(f.kind, f.position) for f in found] for name, found in refused.value.findings.items()} == {
        "target_group": [("bsn", 10), ("telefoonnummer", 37)]}
    assert "111222333" not in str(refused.value)
    assert process_context.of_provider(session, PROVIDER) == []


def test_fields_are_short_known_and_not_all_empty(session) -> None:
    cases: list[tuple[dict[str, str | None], str]] = [
        ({"issues": "x" * 501}, "issues"), ({"bsn": "x"}, "bsn"), ({"issues": "  ", "methods": None}, "fields")]
    for fields, wrong in cases:
        with pytest.raises(process_context.Invalid) as refused:
            process_context.save(session, provider_id=PROVIDER, municipality="GM0363",
                                 period=Period.parse("2025-Q1"), fields=fields)
        assert list(refused.value.errors) == [wrong]


def test_a_provider_withdraws_its_own_context_only(session) -> None:
    q1 = Period.parse("2025-Q1")
    process_context.save(session, provider_id=PROVIDER, municipality="GM0363", period=q1, fields=FIELDS)
    assert not process_context.withdraw(session, provider_id=OTHER, municipality="GM0363", period=q1)
    assert process_context.get(session, provider_id=PROVIDER, municipality="GM0363", period=q1) is not None
    assert process_context.withdraw(session, provider_id=PROVIDER, municipality="GM0363", period=q1)
    assert process_context.get(session, provider_id=PROVIDER, municipality="GM0363", period=q1) is None
    assert not process_context.withdraw(session, provider_id=PROVIDER, municipality="GM0363", period=q1)


# ---- over HTTP: POST, GET and DELETE /v1/process-context ------------------------------------------
def test_the_api_saves_lists_and_withdraws_a_context(api, app, loaded, token_for) -> None:
    body = {"municipality": "GM0363", "period": "2025-Q1", "issues": "Wachtlijst van zes weken.",
            "methods": "Deltamethode"}
    saved = api.post("/v1/process-context", json=body, headers=loaded)
    assert saved.status_code == 201, saved.text
    assert saved.json()["fields"] == {"issues": "Wachtlijst van zes weken.", "methods": "Deltamethode"}
    listed = api.get("/v1/process-context", headers=loaded).json()
    assert [(e["municipality"], e["period"]) for e in listed] == [("GM0363", "2025-Q1")]
    stranger = token_for("provider", OTHER)
    assert api.get("/v1/process-context", headers=stranger).json() == []
    assert_problem(api.delete("/v1/process-context/GM0363/2025-Q1", headers=stranger), 404)
    assert api.delete("/v1/process-context/GM0363/2025-Q1", headers=loaded).status_code == 204
    assert_problem(api.delete("/v1/process-context/GM0363/2025-Q1", headers=loaded), 404)


def test_the_api_refuses_personal_data_no_jbjr_records_and_long_fields(api, app, loaded, token_for) -> None:
    base = {"municipality": "GM0363", "period": "2025-Q1"}
    refused = assert_problem(api.post("/v1/process-context", headers=loaded, json={
        **base, "target_group": "Jan (BSN 111222333)", "issues": "mail j@x.nl"}), 400)
    assert refused["errors"] == [
        {"field": "issues", "reason": "looks like an e-mail address at position 6"},
        {"field": "target_group", "reason": "looks like a BSN at position 10"}]
    assert "111222333" not in str(refused)
    assert_problem(api.post("/v1/process-context", headers=loaded,
                            json={**base, "municipality": "GM0344", "issues": "Wachtlijst."}), 403)
    long = assert_problem(api.post("/v1/process-context", headers=loaded, json={**base, "issues": "x" * 501}), 400)
    assert [e["field"] for e in long["errors"]] == ["issues"]
    empty = assert_problem(api.post("/v1/process-context", headers=loaded, json=base), 400)
    assert empty["errors"] == [{"field": "body", "reason": "fill in at least one field"}]
    municipality = token_for("municipality", "GM0363")
    assert_problem(api.post("/v1/process-context", headers=municipality, json={**base, "issues": "x"}), 403)
    with app.state.runtime.sessions() as session:
        assert process_context.of_provider(session, PROVIDER) == []
