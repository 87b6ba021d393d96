"""The consent registry over HTTP: register, status, withdraw; organisation binding; no BSN in."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.consents.registry import ConsentBook
from app.consents.sealing import open_fields
from app.models import ConsentRecord
from pseudonymisation import generate_key, pseudonymise_bsn
from tests.scan import database_bytes
from tests.test_http_conventions import assert_problem

PROVIDER = "40000001"
OTHER_PROVIDER = "40000002"
PROVIDER_KEY = generate_key("v1")  # the providers' shared stage-1 key (never the TTP's)
BSNS = ["111222333", "123456782", "100000009", "999999990"]


def stage1(bsn: str) -> str:
    return pseudonymise_bsn(bsn, PROVIDER_KEY)


def consent_body(bsn: str = BSNS[0], **overrides):
    body = {
        "consent_ref": f"dossier-{bsn[-4:]}",
        "pseudonym": stage1(bsn),
        "given_by": "youth_and_parents",
        "age_at_consent": 13,
        "purpose": "outcome-monitoring",
        "municipalities": ["GM0363"],
        "given_at": (date.today() - timedelta(days=30)).isoformat(),
        "valid_until": (date.today() + timedelta(days=365)).isoformat(),
    }
    body.update(overrides)
    return body


@pytest.fixture
def provider(token_for):
    return token_for("provider", PROVIDER)


def test_register_read_withdraw_read(api, provider, app) -> None:
    made = api.post("/v1/consents", json=consent_body(), headers=provider)
    assert made.status_code == 201, made.text
    consent_id = made.json()["consent_id"]
    assert made.json() == {"consent_id": consent_id, "status": "active"}
    assert api.get(f"/v1/consents/{consent_id}", headers=provider).json()["status"] == "active"

    withdrawn = api.post(f"/v1/consents/{consent_id}/withdraw", headers=provider)
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert api.get(f"/v1/consents/{consent_id}", headers=provider).json()["status"] == "withdrawn"
    # Retrying the withdrawal is harmless and still final.
    assert api.post(f"/v1/consents/{consent_id}/withdraw", headers=provider).json()["status"] == "withdrawn"

    with app.state.runtime.sessions() as session:
        hashed = app.state.runtime.pseudonymiser.consent_id_hash(consent_id)
        row = session.execute(select(ConsentRecord).where(ConsentRecord.consent_id_hash == hashed)).scalar_one()
        fields = open_fields(app.state.runtime.records.vault.unsealer, row)
        assert [e.type for e in fields.events] == ["given", "withdrawn"]
        assert fields.withdrawn_at is not None and fields.age_at_consent == 13 and fields.municipalities == ("GM0363",)
        # The ISO/IEC TS 27560 record is complete: controller, recipients, data categories, method.
        assert row.controller and row.recipients and row.data_categories and "withdraw" in row.withdrawal_method
        assert row.pseudonym.startswith("p2.v1.") and row.pseudonym != stage1(BSNS[0])


def test_only_the_registering_provider_sees_it(api, provider, token_for) -> None:
    consent_id = api.post("/v1/consents", json=consent_body(), headers=provider).json()["consent_id"]
    other = token_for("provider", OTHER_PROVIDER)
    assert_problem(api.get(f"/v1/consents/{consent_id}", headers=other), 404)
    assert_problem(api.post(f"/v1/consents/{consent_id}/withdraw", headers=other), 404)
    # Unknown and another provider's consent answer the same.
    unknown = api.get("/v1/consents/cns-AAAAAAAAAAAAAAAAAAAAAA", headers=other)
    assert_problem(unknown, 404)
    assert api.get(f"/v1/consents/{consent_id}", headers=provider).json()["status"] == "active"


def test_municipality_and_officer_tokens_get_403(api, provider, token_for) -> None:
    consent_id = api.post("/v1/consents", json=consent_body(), headers=provider).json()["consent_id"]
    for who in (token_for("municipality", "GM0363"), token_for("privacy_officer", "TTP")):
        assert_problem(api.post("/v1/consents", json=consent_body(BSNS[1]), headers=who), 403)
        assert_problem(api.get(f"/v1/consents/{consent_id}", headers=who), 403)
        assert_problem(api.post(f"/v1/consents/{consent_id}/withdraw", headers=who), 403)


@pytest.mark.parametrize("value", ["111222333", "123456789", "111 222 333", "111.222.333", "11122233"])
def test_a_bsn_in_the_pseudonym_field_is_refused(api, provider, value) -> None:
    body = assert_problem(api.post("/v1/consents", json=consent_body(pseudonym=value), headers=provider), 400)
    assert body["errors"] == [{"field": "pseudonym", "reason": body["errors"][0]["reason"]}]
    assert "BSN" in body["errors"][0]["reason"]
    assert value not in str(body)


def test_every_error_is_listed_at_once(api, provider) -> None:
    bad = consent_body(
        given_by="youth",
        age_at_consent=10,
        municipalities=["GM0363", "GM9999"],
        purpose="marketing",
        pseudonym="p1.v1.short",
    )
    body = assert_problem(api.post("/v1/consents", json=bad, headers=provider), 400)
    fields = sorted(e["field"] for e in body["errors"])
    assert fields == ["given_by", "municipalities[1]", "pseudonym", "purpose"]


@pytest.mark.parametrize(
    ("age", "given_by", "accepted"),
    [
        (8, "parents", True),
        (8, "guardian", True),
        (8, "youth", False),
        (12, "youth_and_parents", True),
        (15, "parents", False),
        (16, "youth", True),
        (17, "youth_and_parents", False),
    ],
)
def test_age_rules_over_http(api, provider, age, given_by, accepted) -> None:
    response = api.post("/v1/consents", json=consent_body(age_at_consent=age, given_by=given_by), headers=provider)
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert assert_problem(response, 400)["errors"][0]["field"] == "given_by"


def test_the_same_reference_twice_is_a_conflict(api, provider, token_for) -> None:
    first = api.post("/v1/consents", json=consent_body(), headers=provider)
    again = api.post("/v1/consents", json=consent_body(), headers=provider)
    body = assert_problem(again, 409)
    assert body["type"] == "urn:outcome-ttp:problem:consent-exists"
    assert first.json()["consent_id"] in body["detail"]
    # Another provider may use the same reference: references are per provider.
    assert (
        api.post("/v1/consents", json=consent_body(), headers=token_for("provider", OTHER_PROVIDER)).status_code == 201
    )


def test_withdrawal_stops_the_person_at_once(api, provider, app) -> None:
    consent_id = api.post("/v1/consents", json=consent_body(), headers=provider).json()["consent_id"]
    pseudonymiser = app.state.runtime.pseudonymiser
    stage2 = pseudonymiser.stage2(stage1(BSNS[0]))
    with app.state.runtime.sessions() as session:
        book = ConsentBook(session, PROVIDER, [consent_id], app.state.runtime.records.vault, pseudonymiser)
        assert book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0363") is None
        assert book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0014")[0] == "consent-not-covering"
        other_person = pseudonymiser.stage2(stage1(BSNS[1]))
        assert (
            book.why_not(consent_id=consent_id, pseudonym=other_person, municipality="GM0363")[0] == "consent-mismatch"
        )
    api.post(f"/v1/consents/{consent_id}/withdraw", headers=provider)
    with app.state.runtime.sessions() as session:
        book = ConsentBook(session, PROVIDER, [consent_id], app.state.runtime.records.vault, pseudonymiser)
        assert book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0363")[0] == "consent-withdrawn"
        assert (
            ConsentBook(session, OTHER_PROVIDER, [consent_id], app.state.runtime.records.vault, pseudonymiser).why_not(
                consent_id=consent_id, pseudonym=stage2, municipality="GM0363"
            )[0]
            == "consent-missing"
        )


def test_no_stage1_pseudonym_or_bsn_reaches_the_database(api, provider, settings) -> None:
    for index, bsn in enumerate(BSNS):
        response = api.post("/v1/consents", json=consent_body(bsn, consent_ref=f"ref-{index}"), headers=provider)
        assert response.status_code == 201, response.text
        if index % 2:
            api.post(f"/v1/consents/{response.json()['consent_id']}/withdraw", headers=provider)
    # A BSN sent by mistake is refused, and does not land anywhere either.
    api.post("/v1/consents", json=consent_body(pseudonym="123456782", consent_ref="oops"), headers=provider)
    dump = database_bytes(settings.resolved_database_url)
    assert len(dump) > 1000
    for bsn in BSNS:
        assert stage1(bsn).encode() not in dump
        assert stage1(bsn).split(".")[2].encode() not in dump
        assert bsn.encode() not in dump
    assert b"dossier-" not in dump and b"ref-1" not in dump  # the provider's references are kept hashed
