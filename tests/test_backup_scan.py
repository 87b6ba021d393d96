"""A backup reveals nothing (issue 14, security property 4): a copy of the database, the SQLite file
with its WAL or a ``pg_dump`` of PostgreSQL, holds no consent date, age or municipality next to a
pseudonym, in any common encoding; and no table that holds a pseudonym has a clear date column.

The positive control: migrated back to 0008 (which keeps consents in the clear) the same scan finds
the dates; migrated forward again it finds none, and every consent still answers as before.
Shown by hand once (2026-12-02): at 0008 the scan found all 13 dates, in the SQLite file as
``given2024-08-16 00:00:00.000000`` beside ``2028-09-28`` and in the dump as
``COPY public.consent_events ... given 2024-04-27 00:00:00+00 2028-05-28``; at head, none.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta

import pytest
from alembic import command
from sqlalchemy import Date, DateTime, select

import app.main  # noqa: F401 - every mapped class registered
from app import db
from app.consents.sealing import open_fields
from app.models import Base, ConsentRecord
from app.records.schemas import EXAMPLE_RECORDS
from pseudonymisation import pseudonymise_bsn
from tests.scan import database_bytes
from tests.test_records_api import PROVIDER, PROVIDER_KEY, post, valid_bsn

PEOPLE = 8
#: (age, who consents) per person: every age band, so that given_by's band would show too.
AGES = [(9, "parents"), (11, "guardian"), (13, "youth_and_parents"), (15, "youth_and_parents"),
        (16, "youth"), (17, "youth"), (19, "youth"), (22, "youth")]


def encodings(day: date) -> list[bytes]:
    """A calendar day as a copy could show it: ISO (also the start of a stored timestamp), compact,
    Dutch and US notation, and the Unix time of its midnight."""
    forms = {day.isoformat(), day.strftime("%Y%m%d"), day.strftime("%d-%m-%Y"), day.strftime("%d/%m/%Y"),
             day.strftime("%m/%d/%Y"), f"{day.day}-{day.month}-{day.year}",
             str(int(datetime.combine(day, time.min, UTC).timestamp()))}
    return sorted(form.encode() for form in forms)


def hits(dump: bytes, days: list[date]) -> list[str]:
    return [f"{day}: {form.decode()}" for day in days for form in encodings(day) if form in dump]


def consent_bodies() -> list[dict]:
    bodies = []
    for n in range(PEOPLE):
        age, given_by = AGES[n]
        given_at = date(2024, 2, 13) + timedelta(days=37 * n)
        bodies.append({
            "consent_ref": f"dossier-{n}", "pseudonym": pseudonymise_bsn(valid_bsn(n), PROVIDER_KEY),
            "given_by": given_by, "age_at_consent": age, "municipalities": ["GM0363", "GM0014"],
            "given_at": given_at.isoformat(),
            "valid_until": (date(2028, 3, 7) + timedelta(days=41 * n)).isoformat() if n % 3 else None,
        })
    return bodies


@pytest.fixture
def ingested(api, token_for, app):
    """Consents with known dates and ages, records under each, one withdrawal."""
    provider = token_for("provider", PROVIDER)
    bodies = consent_bodies()
    made = api.post("/v1/consents/batches", json={"consents": bodies}, headers=provider)
    assert made.status_code == 200, made.text
    ids = [item["consent_id"] for item in made.json()["consents"]]
    records = []
    for n, (body, consent_id) in enumerate(zip(bodies, ids, strict=True)):
        record = copy.deepcopy(EXAMPLE_RECORDS["jeugdhulp"])
        record.update(record_id=f"r-{n}", pseudonym=body["pseudonym"], consent_id=consent_id,
                      start_date="2025-01-06", end_date="2025-06-20")
        records.append(record)
    assert post(api, provider, records).status_code == 200
    assert api.post(f"/v1/consents/{ids[1]}/withdraw", headers=provider).status_code == 200
    days = sorted({date.fromisoformat(b[k]) for b in bodies for k in ("given_at", "valid_until") if b[k]})
    return provider, bodies, ids, days


def stage2_pseudonyms(app) -> list[str]:
    with app.state.runtime.sessions() as session:
        return list(session.execute(select(ConsentRecord.pseudonym)).scalars())


def test_no_table_holds_a_clear_date_beside_a_pseudonym() -> None:
    """Every table, the newer ones too: one with a pseudonym has no date column and no age,
    given_by or municipality column (month-level housekeeping strings are allowed)."""
    for table in Base.metadata.sorted_tables:
        if "pseudonym" not in table.c:
            continue
        dated = [c.name for c in table.c if isinstance(c.type, Date | DateTime)]
        identifying = [c.name for c in table.c if c.name in {"age_at_consent", "given_by", "municipalities",
                                                                "municipality", "birth_date", "sex"}]
        assert dated == [] and identifying == [], (table.name, dated, identifying)


def test_a_database_copy_shows_no_consent_date_age_or_municipality(ingested, api, app, settings,
                                                                   monkeypatch) -> None:
    provider, bodies, ids, days = ingested
    pseudonyms = stage2_pseudonyms(app)
    dump = database_bytes(settings.resolved_database_url)
    # The copy does hold the consents: their stage-2 pseudonyms are there, in the clear.
    assert len(pseudonyms) == PEOPLE and all(p.encode() in dump for p in pseudonyms)
    assert hits(dump, days) == []
    # The consents table keeps a keyed hash of each id: an id shows only where the audit log names
    # it (the withdrawal), and nothing there joins it to a pseudonym.
    assert [consent_id for consent_id in ids if consent_id.encode() in dump] == [ids[1]]
    assert "consent_id" not in ConsentRecord.__table__.c
    for marker in (b"youth_and_parents", b'"guardian"', b'"age_at_consent"', b'"given_at"', b'"valid_until"',
                   b'"municipalities"', b'"withdrawn"'):
        assert marker not in dump, marker
    # Exact validity still holds at ingestion: opened, the dates are the ones registered.
    with app.state.runtime.sessions() as session:
        rows = session.execute(select(ConsentRecord).order_by(ConsentRecord.id)).scalars().all()
        opened = [open_fields(app.state.runtime.records.vault.unsealer, row) for row in rows]
    assert [f.given_at.isoformat() for f in opened] == [b["given_at"] for b in bodies]
    assert [f.age_at_consent for f in opened] == [age for age, _ in AGES]
    assert [f.withdrawn_at is not None for f in opened] == [n == 1 for n in range(PEOPLE)]

    # The positive control: the clear schema of 0008 shows the dates to the same scan.
    monkeypatch.setenv("TTP_KEY_DIR", str(settings.key_dir))
    config = db.alembic_config(settings.resolved_database_url)
    app.state.runtime.engine.dispose()
    command.downgrade(config, "0008")
    clear = database_bytes(settings.resolved_database_url)
    found = hits(clear, days)
    assert {hit.split(":")[0] for hit in found} == {day.isoformat() for day in days}, found
    assert b"youth_and_parents" in clear

    # And forward again: sealed, nothing to find, and every consent answers as it did.
    command.upgrade(config, "head")
    app.state.runtime.engine.dispose()
    again = database_bytes(settings.resolved_database_url)
    assert hits(again, days) == [] and b"youth_and_parents" not in again
    statuses = [api.get(f"/v1/consents/{consent_id}", headers=provider).json()["status"] for consent_id in ids]
    assert statuses == ["withdrawn" if n == 1 else "active" for n in range(PEOPLE)]
