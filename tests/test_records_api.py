"""Record ingestion over HTTP: atomic batches, idempotence, consent, CSV, counts, encryption."""

from __future__ import annotations

import copy
import csv
import io
from collections import Counter
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app import aggregate_store
from app.models import OutcomeRecord, RecordBatch, ReportCell
from app.records import contributions, ingestion
from app.records.schemas import EXAMPLE_RECORDS, csv_columns
from pseudonymisation import generate_key, pseudonymise_bsn
from tests.scan import database_bytes
from tests.test_http_conventions import assert_problem

PROVIDER = "40000001"
PROVIDER_KEY = generate_key("v1")


_VALID_BSNS: list[str] = []
_next_first8 = [10_000_000]


def valid_bsn(n: int) -> str:
    """The n-th valid BSN above 100000000 (elfproef), computed independently of the code.

    Each run of eight leading digits has at most one check digit that passes (the weighted sum
    of the eight, mod 11, when that is a digit), so the valid ones in ascending order come from
    ascending prefixes; remembered, since tests ask for the same people over and over (and a load
    thread for the 100,000th and up: a scan per call took seconds of the GIL each)."""
    while len(_VALID_BSNS) <= n:
        first8 = _next_first8[0]
        _next_first8[0] += 1
        digits = [int(c) for c in f"{first8:08d}"]
        check = sum(w * d for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), digits, strict=True)) % 11
        if check <= 9:
            _VALID_BSNS.append(f"{first8:08d}{check}")
    return _VALID_BSNS[n]


class Population:
    """Consents registered over HTTP, and records that refer to them."""

    def __init__(self, api, headers) -> None:
        self.api, self.headers = api, headers
        self.consents: dict[int, str] = {}

    def person(self, n: int, municipality: str = "GM0363") -> tuple[str, str]:
        """(stage-1 pseudonym, consent id) for person n, registering the consent once."""
        pseudonym = pseudonymise_bsn(valid_bsn(n), PROVIDER_KEY)
        if n not in self.consents:
            body = {
                "consent_ref": f"c-{n}", "pseudonym": pseudonym, "given_by": "youth", "age_at_consent": 16,
                "municipalities": sorted({municipality, "GM0014"}),
                "given_at": "2024-01-01", "valid_until": None,
            }
            response = self.api.post("/v1/consents", json=body, headers=self.headers)
            assert response.status_code == 201, response.text
            self.consents[n] = response.json()["consent_id"]
        return pseudonym, self.consents[n]

    def record(self, n: int, index: int = 0, **changes):
        record = copy.deepcopy(EXAMPLE_RECORDS["jeugdhulp"])
        pseudonym, consent_id = self.person(n, changes.get("municipality", "GM0363"))
        record.update(record_id=f"r-{n}-{index}", pseudonym=pseudonym, consent_id=consent_id,
                      start_date="2025-01-06", end_date="2025-06-20")
        record.update(changes)
        return record


@pytest.fixture
def provider(token_for):
    return token_for("provider", PROVIDER)


@pytest.fixture
def people(api, provider) -> Population:
    return Population(api, provider)


def counts(app) -> Counter:
    with app.state.runtime.sessions() as session:
        return aggregate_store.stored(session)


def record_count(app) -> int:
    with app.state.runtime.sessions() as session:
        return session.execute(select(func.count()).select_from(OutcomeRecord)).scalar_one()


def verify(app) -> ingestion.Verification:
    with app.state.runtime.sessions() as session:
        return ingestion.verify(session, app.state.runtime.records)


def post(api, headers, records):
    return api.post("/v1/records/batches", json={"records": records}, headers=headers)


def test_a_valid_batch_is_stored_and_counted(api, provider, people, app) -> None:
    recent = {"start_date": (date.today() - timedelta(days=120)).isoformat(),
              "end_date": (date.today() - timedelta(days=30)).isoformat()}
    response = post(api, provider, [people.record(1, **recent), people.record(2, end_reason="32", **recent)])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2 and body["replaced"] == 0 and body["batch_id"].startswith("bat-")
    cells = counts(app)
    dropout = {k.value: n for k, n in cells.items() if k.indicator == "1"}
    assert dropout == {"01": 1, "03": 1}  # iJw 32 is stored as BiJ 03 (uitval)
    assert {k.value: n for k, n in cells.items() if k.indicator == "2"} == {"mark:8": 2}
    assert {k.value: n for k, n in cells.items() if k.indicator == "3.2"} == {"pending": 2}  # window still open
    first = next(iter(cells))
    assert (first.municipality, first.period, first.provider_id) == ("GM0363", contributions.quarter(
        date.today() - timedelta(days=30)), PROVIDER)
    assert verify(app).ok


def test_three_bad_records_among_a_thousand_store_nothing(api, provider, people, app) -> None:
    records = [people.record(n % 50, index=n) for n in range(1000)]
    records[17]["outcomes"]["satisfaction"]["mark"] = 11
    records[503]["end_date"] = "2024-12-31"  # before its start
    records[998]["postcode"] = "1011AB"  # data minimisation: not accepted
    body = assert_problem(post(api, provider, records), 400)
    assert sorted({e["index"] for e in body["errors"]}) == [17, 503, 998]
    fields = {e["index"]: e["field"] for e in body["errors"]}
    assert fields[17] == "outcomes.satisfaction.mark" and fields[998] == "postcode"
    assert record_count(app) == 0 and not counts(app)


def test_the_same_batch_twice_stores_each_record_once(api, provider, people, app) -> None:
    records = [people.record(n, index=n) for n in range(20)]
    first = post(api, provider, records).json()
    cells = counts(app)
    second = post(api, provider, records).json()
    assert (first["accepted"], first["replaced"]) == (20, 0)
    assert (second["accepted"], second["replaced"]) == (20, 20)
    assert record_count(app) == 20
    assert counts(app) == cells
    # A correction replaces the earlier version and moves its counts.
    corrected = copy.deepcopy(records[0])
    corrected["end_reason"] = "03"
    post(api, provider, [corrected])
    after = counts(app)
    assert sum(n for k, n in after.items() if k.indicator == "1" and k.value == "03") == 1
    assert sum(n for k, n in after.items() if k.indicator == "1") == 20
    assert verify(app).ok


def test_records_without_consent_are_refused(api, provider, people, token_for, app) -> None:
    good = people.record(1)
    unknown = people.record(2, record_id="r-x", consent_id="cns-doesnotexistatall")
    wrong_person = people.record(3, record_id="r-y", consent_id=people.consents[1])
    people.person(4)  # consent for GM0363 and GM0014 only
    out_of_scope = people.record(4, record_id="r-z", municipality="GM0344")
    body = assert_problem(post(api, provider, [good, unknown, wrong_person, out_of_scope]), 409)
    assert [e["index"] for e in body["errors"]] == [1, 2, 3]
    assert all(e["field"] == "consent_id" for e in body["errors"])
    # Another provider cannot use this provider's consent.
    other = token_for("provider", "40000002")
    assert assert_problem(post(api, other, [good]), 409)["type"].endswith("consent-missing")
    assert record_count(app) == 0


def test_withdrawal_removes_counts_and_refuses_later_records(api, provider, people, app) -> None:
    post(api, provider, [people.record(1), people.record(1, index=1, start_date="2025-07-01", end_date="2025-09-01"),
                         people.record(2)])
    assert record_count(app) == 3
    before = counts(app)
    withdrawn = api.post(f"/v1/consents/{people.consents[1]}/withdraw", headers=provider)
    assert withdrawn.status_code == 200
    assert record_count(app) == 1
    after = counts(app)
    assert sum(after.values()) < sum(before.values())
    assert sum(n for k, n in after.items() if k.indicator == "1") == 1
    assert verify(app).ok
    later = people.record(1, index=7)
    body = assert_problem(post(api, provider, [later]), 409)
    assert body["type"] == "urn:outcome-ttp:problem:consent-withdrawn"
    assert body["errors"][0]["index"] == 0


def test_csv_batch_equals_its_json_twin(api, provider, people, app, token_for) -> None:
    records = [people.record(n, index=n) for n in range(5)]
    records[1]["outcomes"] = {"satisfaction": {"mark": 6, "informant": "parent"}}
    records[2].pop("end_date"); records[2].pop("end_reason")  # noqa: E702 - ongoing
    post(api, provider, records)
    json_cells = counts(app)
    for record in records:
        assert api.delete(f"/v1/records/{record['record_id']}", headers=provider).status_code == 204
    assert not counts(app)

    columns = csv_columns("jeugdhulp")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for record in records:
        flat = flatten(record)
        writer.writerow([flat.get(c, "") for c in columns])
    response = api.post("/v1/records/batches", content=buffer.getvalue().encode(),
                        headers={**provider, "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    assert counts(app) == json_cells


def flatten(record: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                out.update(flatten(item, f"{name}[{i}]."))
        else:
            out[name] = str(value)
    return out


def test_wrong_content_type_and_shape(api, provider) -> None:
    assert_problem(api.post("/v1/records/batches", content=b"x", headers={**provider, "Content-Type": "text/plain"}),
                   415)
    assert_problem(api.post("/v1/records/batches", json=[1, 2], headers=provider), 400)
    assert_problem(api.post("/v1/records/batches", json={"records": []}, headers=provider), 400)
    bad_csv = api.post("/v1/records/batches", content=b"record_id,shoe_size\nx,44\n",
                       headers={**provider, "Content-Type": "text/csv"})
    assert "shoe_size" in assert_problem(bad_csv, 400)["detail"]


def test_only_providers_submit(api, token_for, people) -> None:
    municipality = token_for("municipality", "GM0363")
    assert_problem(post(api, municipality, [people.record(1)]), 403)
    assert_problem(api.delete("/v1/records/r-1-0", headers=municipality), 403)


def test_retraction_is_for_own_records_only(api, provider, people, token_for, app) -> None:
    post(api, provider, [people.record(1)])
    other = token_for("provider", "40000002")
    assert_problem(api.delete("/v1/records/r-1-0", headers=other), 404)
    assert api.delete("/v1/records/r-1-0", headers=provider).status_code == 204
    assert_problem(api.delete("/v1/records/r-1-0", headers=provider), 404)
    assert record_count(app) == 0 and not counts(app)


def test_late_record_turns_the_earlier_trajectorys_new_start(api, provider, people, app) -> None:
    end = date.today() - timedelta(days=400)
    first = people.record(1, start_date=(end - timedelta(days=90)).isoformat(), end_date=end.isoformat())
    post(api, provider, [first])
    linked = {k.value: n for k, n in counts(app).items() if k.indicator == "3.2"}
    assert linked == {"no_new_start": 1}  # its window has passed with no new start
    # A late record: a new start 3 months after the end, sent now.
    late = people.record(1, index=1, start_date=(end + timedelta(days=90)).isoformat(),
                         end_date=(end + timedelta(days=200)).isoformat())
    post(api, provider, [late])
    linked = Counter()
    for key, n in counts(app).items():
        if key.indicator == "3.2":
            linked[key.value] += n
    assert linked == {"new_start": 1, "no_new_start": 1}
    assert verify(app).ok
    # Retracting the late record turns it back.
    api.delete(f"/v1/records/{late['record_id']}", headers=provider)
    assert {k.value for k in counts(app) if k.indicator == "3.2"} == {"no_new_start"}


def test_verify_notices_a_changed_count(api, provider, people, app) -> None:
    post(api, provider, [people.record(n, index=n) for n in range(10)])
    assert verify(app).ok
    with app.state.runtime.sessions() as session:
        cell = session.execute(select(ReportCell).order_by(ReportCell.id)).scalars().first()
        cell.count += 1
        session.commit()
    result = verify(app)
    assert not result.ok and len(result.differences) == 1


def test_a_database_copy_reveals_no_record_level_fact(api, provider, people, settings) -> None:
    secrets_in = []
    records = []
    for n in range(12):
        start = date(2024, 3, 1) + timedelta(days=17 * n + 3)
        end = start + timedelta(days=101 + n)
        record = people.record(n, index=n, start_date=start.isoformat(), end_date=end.isoformat())
        record["outcomes"]["rom"] = {"instrument": "SDQ", "pre": 23 + n % 5, "post": 11 + n % 3}
        records.append(record)
        secrets_in += [record["pseudonym"], record["pseudonym"].split(".")[2], start.isoformat(), end.isoformat()]
    assert post(api, provider, records).status_code == 200
    dump = database_bytes(settings.resolved_database_url)
    for value in secrets_in:
        assert value.encode() not in dump, value
    for marker in (b'"mark"', b'"instrument"', b"SDQ", b'"pre"', b'"goals"', b"traj-"):
        assert marker not in dump


def test_stored_rows_are_sealed_and_bound_to_their_row(api, provider, people, app) -> None:
    post(api, provider, [people.record(1), people.record(2)])
    runtime = app.state.runtime
    with runtime.sessions() as session:
        rows = session.execute(select(OutcomeRecord).order_by(OutcomeRecord.id)).scalars().all()
        batch = session.execute(select(RecordBatch)).scalar_one()
        vault = runtime.records.vault
        opened = vault.open_payload(provider_id=rows[0].provider_id, record_id=rows[0].record_id,
                                    format_version=rows[0].format_version, kek_id=batch.kek_id,
                                    wrapped_key=batch.wrapped_key, ciphertext=rows[0].ciphertext)
        assert opened["record_id"] == rows[0].record_id and "pseudonym" not in opened
        with pytest.raises(Exception, match="Decryption|decrypt|authentic"):
            vault.open_payload(provider_id=rows[1].provider_id, record_id=rows[1].record_id,
                               format_version=rows[1].format_version, kek_id=batch.kek_id,
                               wrapped_key=batch.wrapped_key, ciphertext=rows[0].ciphertext)
