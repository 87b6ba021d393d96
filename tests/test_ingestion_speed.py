"""What the faster ingestion path (issue 14, "Ingest speed") keeps exactly as it was: the consent
check against what is committed, the aggregate store's counts on both databases, the payload bytes,
the BSN look-alike check, the unsealing of data keys under a replaced KEK, and the consents a
process keeps opened (what it sealed or opened is not opened again, and nothing else is taken for it)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from app import aggregate_store
from app.aggregate_store import StoreKey
from app.consents import registry
from app.consents.withdrawal import withdraw_consent
from app.crypto.envelope import BatchSealer, DecryptionFailed, Kek, UnknownKek, Unsealer, generate_kek
from app.models import ConsentRecord
from app.records import ingestion
from app.records.schemas import EXAMPLE_RECORDS, RECORD_ADAPTER, validation_context
from app.records.vault import RecordVault
from pseudonymisation import pseudonymise_bsn
from pseudonymisation.bsn import looks_like_bsn
from tests.test_records_api import PROVIDER_KEY, Population, valid_bsn


@pytest.fixture
def provider(token_for):
    return token_for("provider", "40000001")


@pytest.fixture
def people(api, provider) -> Population:
    return Population(api, provider)


def _cell(value: str, municipality: str = "GM0363") -> StoreKey:
    return StoreKey(municipality, "2025-Q2", "40000001", "jeugdhulp", "02", "45", "12-15", "V", "2", value)


def test_the_store_adds_and_drops_cells_in_one_statement_per_kind(app) -> None:
    """apply: new cells inserted, existing ones added to, cells that reach zero deleted, others kept
    (on PostgreSQL as one unnest statement each, on SQLite per cell)."""
    runtime = app.state.runtime
    keys = [_cell(str(n)) for n in range(1, 8)] + [_cell("1", "GM0014")]
    with runtime.sessions() as session:
        aggregate_store.apply(session, Counter({key: 2 for key in keys}))
        session.commit()
    with runtime.sessions() as session:
        delta: Counter[StoreKey] = Counter({keys[0]: -2, keys[1]: -1, keys[2]: 3, _cell("9"): 1})
        delta[keys[3]] = 0
        aggregate_store.apply(session, delta)
        session.commit()
    with runtime.sessions() as session:
        stored = aggregate_store.stored(session)
    assert keys[0] not in stored
    assert stored[keys[1]] == 1
    assert stored[keys[2]] == 5
    assert stored[keys[3]] == 2
    assert stored[_cell("9")] == 1
    assert stored[keys[7]] == 2
    assert sum(stored.values()) == 1 + 5 + 2 * 5 + 1


def _why_not(runtime, session, consent_id: str, stage2: str):
    """What a fresh consent book of provider 40000001 says of a GM0363 record under ``consent_id``."""
    book = registry.ConsentBook(session, "40000001", [consent_id], runtime.records.vault, runtime.pseudonymiser)
    return book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0363", at=date.today())


def test_a_consent_withdrawn_after_the_book_was_read_is_refused_under_the_lock(app, people) -> None:
    """The consent book is read before the ingestion lock; ``refresh`` under it opens again what
    changed meanwhile, so a withdrawal that committed in between refuses the record."""
    runtime = app.state.runtime
    stage1, consent_id = people.person(1)
    stage2 = runtime.pseudonymiser.stage2(stage1)
    with runtime.sessions() as session:
        book = registry.ConsentBook(session, "40000001", [consent_id], runtime.records.vault, runtime.pseudonymiser)
        assert book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0363", at=date.today()) is None
        session.commit()
        with runtime.sessions() as other:
            row = registry.find(other, provider_id="40000001", consent_id=consent_id,
                                pseudonymiser=runtime.pseudonymiser)
            withdraw_consent(other, runtime.records, row)
            other.commit()
        assert book.refresh(session) == 1
        problem = book.why_not(consent_id=consent_id, pseudonym=stage2, municipality="GM0363", at=date.today())
        assert problem is not None and problem[0] == "consent-withdrawn"
        assert book.refresh(session) == 0  # nothing changed since


def test_a_consent_of_another_provider_is_missing_from_the_book(app, people) -> None:
    runtime = app.state.runtime
    stage1, consent_id = people.person(2)
    with runtime.sessions() as session:
        book = registry.ConsentBook(session, "40000002", [consent_id], runtime.records.vault, runtime.pseudonymiser)
        problem = book.why_not(consent_id=consent_id, pseudonym=runtime.pseudonymiser.stage2(stage1),
                               municipality="GM0363", at=date.today())
        assert book.row(consent_id) is None
    assert problem is not None and problem[0] == "consent-missing"


def test_ingestion_stores_and_counts_a_batch_of_many_consents(app, api, provider, people) -> None:
    """End to end over the new path: every record stored and counted, verify clean."""
    body = {"records": [people.record(n) for n in range(1, 41)]}
    response = api.post("/v1/records/batches", json=body, headers=provider)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 40
    with app.state.runtime.sessions() as session:
        assert ingestion.verify(session, app.state.runtime.records).ok


@pytest.mark.parametrize("framework", sorted(EXAMPLE_RECORDS))
def test_the_payload_is_the_compact_json_of_the_record_without_its_pseudonym(framework: str) -> None:
    record = RECORD_ADAPTER.validate_python(EXAMPLE_RECORDS[framework], context=validation_context(today=date.today()))
    expected = json.dumps(record.model_dump(mode="json", exclude={"pseudonym"}, exclude_none=True),
                          separators=(",", ":")).encode()
    assert RecordVault.payload(record) == expected


#: The separators the definition skips (pseudonymisation.bsn's docstring): dots and (Unicode) dashes.
SEPARATORS = frozenset(".-\u2010\u2011\u2012\u2013\u2014\u2212")


def _slow_looks_like_bsn(value: str) -> bool:
    compact = "".join(ch for ch in value if not (ch.isspace() or ch in SEPARATORS))
    return len(compact) in (8, 9) and compact.isdecimal()


@pytest.mark.parametrize("value", [
    "p1.v1." + "A" * 43, "123456782", " 123456782", "-123.456.782", "\u2013 12345678", "1234567", "a23456782",
    "12345678x", "\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "\t\n12 34 56 78 2", "", "........",
    "x 12345678", "12345678", "\u00a0123456782",
])
def test_the_fast_path_of_the_bsn_look_alike_check_agrees_with_the_definition(value: str) -> None:
    assert looks_like_bsn(value) == _slow_looks_like_bsn(value)


def test_a_kek_replaced_under_the_same_id_does_not_reuse_the_old_one() -> None:
    """The unsealer keeps one AESGCM per KEK: a different key under the same id is not it."""
    kek = generate_kek("k1")
    sealer = BatchSealer(kek)
    sealed = sealer.seal(b"payload", b"aad")
    keks: dict[str, Kek] = {"k1": kek}
    unsealer = Unsealer(keks, cache_size=1)
    assert unsealer.open(sealer.wrapped_key, sealed, b"aad") == b"payload"
    other = BatchSealer(kek)  # a second data key under the same KEK (the cache holds one)
    assert unsealer.open(other.wrapped_key, other.seal(b"two", b"aad"), b"aad") == b"two"
    keks["k1"] = Kek(key_id="k1", key=generate_kek("k1").key)
    with pytest.raises(DecryptionFailed):
        unsealer.open(sealer.wrapped_key, sealed, b"aad")


# ---- consents kept opened ---------------------------------------------------------------------
def _coverage_row(session, consent_id: str, runtime):
    consents = ConsentRecord.__table__
    return session.execute(
        select(*(consents.c[name] for name in registry._COVERAGE_COLUMNS))
        .where(consents.c.consent_id_hash == runtime.pseudonymiser.consent_id_hash(consent_id))
    ).one()


@pytest.mark.parametrize("registration", ["one", "bulk"])
def test_a_batch_does_not_open_again_the_consents_its_registration_just_sealed(app, api, provider, people,
                                                                              registration: str) -> None:
    """The batch that names consents right after their registration (one by one, or in bulk as
    ``ttp submit`` does) opens none of them; a process that did not register them (its opened
    consents cleared) opens every one."""
    runtime = app.state.runtime
    opened = runtime.records.vault.opened
    numbers = range(1, 13) if registration == "one" else range(101, 113)
    if registration == "bulk":
        bodies = [{"consent_ref": f"c-{n}", "pseudonym": pseudonymise_bsn(valid_bsn(n), PROVIDER_KEY),
                   "given_by": "youth", "age_at_consent": 16, "municipalities": ["GM0014", "GM0363"],
                   "given_at": "2024-01-01", "valid_until": None} for n in numbers]
        made = api.post("/v1/consents/batches", json={"consents": bodies}, headers=provider)
        assert made.status_code == 200, made.text
        people.consents.update({n: c["consent_id"] for n, c in zip(numbers, made.json()["consents"], strict=True)})
    body = {"records": [people.record(n) for n in numbers]}  # registers one by one what is not yet
    before = opened.opens
    response = api.post("/v1/records/batches", json=body, headers=provider)
    assert response.status_code == 200, response.text
    assert opened.opens == before

    opened.clear()
    before = opened.opens
    response = api.post("/v1/records/batches", json=body, headers=provider)  # the same records again
    assert response.status_code == 200, response.text
    assert response.json()["replaced"] == 12
    assert opened.opens - before == 12
    with runtime.sessions() as session:
        assert ingestion.verify(session, runtime.records).ok


@pytest.mark.parametrize("column", ["consent_id_hash", "provider_id", "pseudonym", "consent_ref_hash"])
def test_a_kept_consent_with_one_bound_column_changed_is_opened_again_and_fails(app, people, column: str) -> None:
    """Each column the sealed blob is bound to, changed alone on a kept consent's row (an attacker
    with write access to the database): the row does not open, kept or not."""
    runtime = app.state.runtime
    keys = runtime.records.vault
    _, consent_id = people.person(5)
    with runtime.sessions() as session:
        kept = _coverage_row(session, consent_id, runtime)
        assert registry.coverage_model(kept, keys).municipalities
        value = "40000009" if column == "provider_id" else "x" + getattr(kept, column)[1:]
        changed = SimpleNamespace(**{**kept._asdict(), column: value})
        with pytest.raises(DecryptionFailed):
            registry.coverage_model(changed, keys)


def test_a_sealed_consent_copied_onto_another_row_does_not_open_even_when_kept_opened(app, people) -> None:
    """The attacker with write access to the database copies the sealed columns of a consent this
    process holds opened (one covering GM0363) onto another consent's row: the row is opened
    again, and fails as it would have, instead of taking the kept consent for it."""
    runtime = app.state.runtime
    keys = runtime.records.vault
    _, kept_id = people.person(1)
    _, other_id = people.person(2)
    with runtime.sessions() as session:
        kept = _coverage_row(session, kept_id, runtime)
        assert registry.coverage_model(kept, keys).municipalities  # opened and kept
        session.execute(update(ConsentRecord)
                        .where(ConsentRecord.consent_id_hash == runtime.pseudonymiser.consent_id_hash(other_id))
                        .values(kek_id=kept.kek_id, wrapped_key=kept.wrapped_key, sealed=kept.sealed))
        session.flush()
        copied = _coverage_row(session, other_id, runtime)
        with pytest.raises(DecryptionFailed):
            registry.coverage_model(copied, keys)
        session.rollback()


def test_a_consent_withdrawn_by_another_process_is_not_taken_from_the_kept_one(app, people) -> None:
    """Another API process (its own vault, the same keys) withdraws a consent this process holds
    opened as given: this process reads the resealed row and sees the withdrawal."""
    runtime = app.state.runtime
    stage1, consent_id = people.person(3)
    stage2 = runtime.pseudonymiser.stage2(stage1)
    with runtime.sessions() as session:
        assert _why_not(runtime, session, consent_id, stage2) is None
    elsewhere = replace(runtime.records, vault=RecordVault(runtime.records.vault.active_kek,
                                                           runtime.records.vault.keks,
                                                           runtime.records.vault.rom_instruments))
    with runtime.sessions() as other:
        row = registry.find(other, provider_id="40000001", consent_id=consent_id, pseudonymiser=runtime.pseudonymiser)
        withdraw_consent(other, elsewhere, row)
        other.commit()
    with runtime.sessions() as session:
        problem = _why_not(runtime, session, consent_id, stage2)
    assert problem is not None and problem[0] == "consent-withdrawn"


def test_a_kept_consent_is_not_used_once_its_kek_is_gone_or_replaced(app, people) -> None:
    runtime = app.state.runtime
    keys = RecordVault(runtime.records.vault.active_kek, dict(runtime.records.vault.keks),
                       runtime.records.vault.rom_instruments)
    _, consent_id = people.person(4)
    with runtime.sessions() as session:
        row = _coverage_row(session, consent_id, runtime)
    assert registry.coverage_model(row, keys).municipalities
    assert len(keys.opened) == 1
    kek = keys.keks.pop(row.kek_id)
    with pytest.raises(UnknownKek):
        registry.coverage_model(row, keys)
    keys.keks[row.kek_id] = Kek(key_id=row.kek_id, key=generate_kek(row.kek_id).key)  # other bytes, the same id
    with pytest.raises(DecryptionFailed):
        registry.coverage_model(row, keys)
    keys.keks[row.kek_id] = kek
    assert registry.coverage_model(row, keys).municipalities
