"""The demo population generator (app/demo.py): pure, no database, no web app.

Run alone with ``.venv/bin/python -m pytest --noconftest -p no:cacheprovider tests/test_demo.py``.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from functools import lru_cache

import pytest

import consent
from app import demo
from app.records.codelists import load_codelists
from app.records.schemas import validate_records
from pseudonymisation import PseudonymKey, is_valid_bsn

KEY = PseudonymKey(key_id="v1", secret=bytes(range(32)))
TODAY = date(2026, 11, 23)
CODELISTS = load_codelists()
PLACEHOLDER_CONSENT_ID = "cns-placeholder0000"


@lru_cache(maxsize=8)
def population(records: int = 5000, seed: int = 2025, today: date = TODAY) -> demo.DemoPopulation:
    return demo.generate(records, seed=seed, provider_key=KEY, today=today)


def _as_json(pop: demo.DemoPopulation) -> str:
    return json.dumps(
        {
            "providers": [vars(p) for p in pop.providers],
            "consents": [vars(c) for c in pop.consents],
            "records": [vars(r) for r in pop.records],
        },
        sort_keys=True,
    )


def _bij(code: str) -> str:
    return CODELISTS.end_reason_to_bij(code) or code


def test_same_seed_same_population_other_seed_other_population():
    first = demo.generate(1500, seed=7, provider_key=KEY, today=TODAY)
    again = demo.generate(1500, seed=7, provider_key=KEY, today=TODAY)
    other = demo.generate(1500, seed=8, provider_key=KEY, today=TODAY)
    assert _as_json(first) == _as_json(again)
    assert _as_json(first) != _as_json(other)
    assert len(first.records) == len(other.records) == 1500


@pytest.mark.parametrize(
    ("records", "seed", "today"),
    [(5000, 2025, TODAY), (2000, 1, TODAY), (2000, 2, date(2025, 7, 1)), (2000, 3, date(2024, 3, 15)),
     (1, 4, TODAY), (0, 5, TODAY)],
)
def test_every_record_validates(records, seed, today):
    pop = population(records, seed, today)
    assert len(pop.records) == records
    items = [r.with_consent_id(PLACEHOLDER_CONSENT_ID) for r in pop.records]
    valid, errors = validate_records(items, today=today)
    assert errors == []
    assert len(valid) == records
    for record in pop.records:
        assert record.body["consent_id"] == ""  # the seeder fills it in
        assert record.body["start_date"] <= today.isoformat()
        assert record.body.get("end_date", today.isoformat()) <= today.isoformat()
        assert record.body["start_date"] >= demo.FIRST_START.isoformat()


def test_record_ids_unique_per_provider_and_batches_group_per_provider():
    pop = population()
    ids = Counter((r.provider, r.body["record_id"]) for r in pop.records)
    assert max(ids.values()) == 1
    groups = demo.batches(pop.records, size=400)
    assert sum(len(g) for g in groups) == len(pop.records)
    assert all(1 <= len(g) <= 400 for g in groups)
    assert all(len({r.provider for r in g}) == 1 for g in groups)
    assert [len(g) for g in demo.batches(pop.records[:5], size=1000)] == [5]
    with pytest.raises(ValueError):
        demo.batches(pop.records, size=0)


def test_providers():
    pop = population()
    assert 8 <= len(pop.providers) <= 15
    assert len({p.agb for p in pop.providers}) == len(pop.providers)
    assert all(re.fullmatch(r"\d{8}", p.agb) for p in pop.providers)
    assert {p.kind for p in pop.providers} == {"jeugdhulp", "gi"}
    kinds = {p.agb: p.kind for p in pop.providers}
    per_provider = Counter(r.provider for r in pop.records)
    assert set(per_provider) == set(kinds)  # every provider has records at the default size
    assert max(per_provider.values()) > 10 * min(per_provider.values())  # very different sizes
    for record in pop.records:
        framework = record.body["framework"]
        assert kinds[record.provider] == ("jeugdhulp" if framework == "jeugdhulp" else "gi")


def test_consents_fit_the_rules_and_cover_their_records():
    pop = population()
    known = frozenset(CODELISTS.municipalities)
    by_ref = {}
    for item in pop.consents:
        body = item.body
        assert set(body) == {"consent_ref", "pseudonym", "given_by", "age_at_consent", "purpose", "municipalities",
                             "given_at", "valid_until"}
        model = consent.Consent(
            consent_ref=body["consent_ref"], provider_id=item.provider, given_by=body["given_by"],
            age_at_consent=body["age_at_consent"], purpose=body["purpose"], data_categories=(), controller="c",
            recipients=(), municipalities=body["municipalities"], given_at=date.fromisoformat(body["given_at"]),
            valid_until=date.fromisoformat(body["valid_until"]) if body["valid_until"] else None,
            withdrawal_method="w",
        )
        assert consent.validate_new_consent(model, today=TODAY, allowed_purposes={"outcome-monitoring"},
                                            known_municipalities=known) == []
        consent.check_given_by(body["age_at_consent"], body["given_by"])
        assert body["pseudonym"].startswith("p1.v1.")
        assert len(body["municipalities"]) == 1
        assert (item.provider, body["consent_ref"]) not in by_ref
        by_ref[(item.provider, body["consent_ref"])] = body
    assert {c.body["given_by"] for c in pop.consents} == {"parents", "guardian", "youth_and_parents", "youth"}
    assert any(c.body["valid_until"] is None for c in pop.consents)
    assert any(c.body["valid_until"] is not None for c in pop.consents)

    used = set()
    for record in pop.records:
        body = by_ref[(record.provider, record.consent_ref)]
        used.add((record.provider, record.consent_ref))
        assert body["pseudonym"] == record.body["pseudonym"]
        assert body["municipalities"] == [record.body["municipality"]]
        assert body["given_at"] <= record.body["start_date"]
        assert body["valid_until"] is None or body["valid_until"] > TODAY.isoformat()
        status = consent.status_at(
            consent.Consent(
                consent_ref="x", provider_id=record.provider, given_by=body["given_by"],
                age_at_consent=body["age_at_consent"], purpose=body["purpose"], data_categories=(),
                controller="c", recipients=(), municipalities=body["municipalities"],
                given_at=date.fromisoformat(body["given_at"]),
                valid_until=date.fromisoformat(body["valid_until"]) if body["valid_until"] else None,
                withdrawal_method="w",
            ),
            TODAY,
        )
        assert status is consent.ConsentStatus.ACTIVE
    assert used == set(by_ref)  # no consent without records


def test_shares_look_like_youth_care():
    pop = population()
    records = [r.body for r in pop.records]
    frameworks = Counter(b["framework"] for b in records)
    assert 0.80 <= frameworks["jeugdhulp"] / len(records) <= 0.90
    assert 0.07 <= frameworks["jeugdbescherming"] / len(records) <= 0.13
    assert 0.03 <= frameworks["jeugdreclassering"] / len(records) <= 0.08
    ended = [b for b in records if "end_date" in b]
    assert 0.62 <= len(ended) / len(records) <= 0.78
    assert all(b["end_date"] >= b["start_date"] for b in ended)

    jeugdhulp = [b for b in ended if b["framework"] == "jeugdhulp"]
    reasons = Counter(b["end_reason"] for b in jeugdhulp)
    assert {"01", "03"} <= set(reasons) and {"31", "32"} <= set(reasons)  # both code systems
    dropout = sum(1 for b in jeugdhulp if _bij(b["end_reason"]) == "03") / len(jeugdhulp)
    assert 0.10 <= dropout <= 0.20

    marks = [b["outcomes"]["satisfaction"]["mark"] for b in jeugdhulp if "satisfaction" in b.get("outcomes", {})]
    assert 0.30 <= 1 - len(marks) / len(jeugdhulp) <= 0.50  # about 40% missing
    assert sum(1 for m in marks if 6 <= m <= 9) / len(marks) >= 0.6
    codes = Counter(b["outcomes"]["continue_without_help"]["code"] for b in jeugdhulp
                    if "continue_without_help" in b.get("outcomes", {}))
    assert set(codes) == {"01", "02", "03", "04"}
    roms = [b["outcomes"]["rom"] for b in jeugdhulp if "rom" in b.get("outcomes", {})]
    assert len({r["instrument"] for r in roms}) >= 3
    assert all(b["hulpvorm"] != "01" for b in jeugdhulp if "rom" in b.get("outcomes", {}))
    assert any("goals" in b.get("outcomes", {}) for b in jeugdhulp)
    assert not any("outcomes" in b for b in records if "end_date" not in b)  # answers come at the end
    assert any("age_band" not in b for b in records) and any("sex" not in b for b in records)
    measures = Counter(b["measure_type"] for b in records if b["framework"] != "jeugdhulp")
    assert set(measures) == {"OTS", "voogdij", "JR"}


def test_regions_and_municipality_sizes():
    pop = population()
    ended = Counter(r.body["municipality"] for r in pop.records if "end_date" in r.body)
    regions = {CODELISTS.municipalities[code].region for code in ended}
    assert len(regions) >= 4 and {"Friesland", "Amsterdam-Amstelland"} <= regions
    for region in demo.DEMO_REGIONS:  # every member municipality is in the data
        assert set(CODELISTS.regions[region]) <= {r.body["municipality"] for r in pop.records}
    assert ended["GM0363"] > 100
    assert any(0 < count < 10 for count in ended.values())
    assert all(ended[code] < 10 for code in ("GM0096", "GM0060"))  # Vlieland, Ameland
    # Schiermonnikoog: some year's count of ended jeugdhulp lies where its threshold 20 bites.
    per_year = Counter(r.body["end_date"][:4] for r in pop.records
                       if r.body["municipality"] == "GM0088" and r.body["framework"] == "jeugdhulp"
                       and "end_date" in r.body)
    assert any(10 <= count < 20 for count in per_year.values())


def test_new_starts_within_six_months_at_another_provider():
    pop = population()
    per_person = defaultdict(list)
    for record in pop.records:
        per_person[record.body["pseudonym"]].append(record)
    assert sum(1 for items in per_person.values() if len(items) > 1) > 100
    linked = 0
    for items in per_person.values():
        items.sort(key=lambda r: r.body["start_date"])
        for first, second in zip(items, items[1:], strict=False):
            if first.provider == second.provider or "end_date" not in first.body:
                continue
            gap = date.fromisoformat(second.body["start_date"]) - date.fromisoformat(first.body["end_date"])
            if timedelta(0) < gap <= timedelta(days=183):
                linked += 1
    assert linked >= 20


def test_no_bsn_in_any_output(monkeypatch):
    made: list[str] = []
    original = demo._synthetic_bsn

    def recording(rng):
        value = original(rng)
        made.append(value)
        return value

    monkeypatch.setattr(demo, "_synthetic_bsn", recording)
    pop = demo.generate(2000, seed=11, provider_key=KEY, today=TODAY)
    assert made and all(is_valid_bsn(b) for b in made)
    text = _as_json(pop)
    assert not any(bsn in text for bsn in made)
    assert re.search(r"(?<![0-9A-Za-z_-])\d{9}(?![0-9A-Za-z_-])", text) is None
    assert all(r.body["pseudonym"].startswith("p1.") for r in pop.records)
    assert all(c.body["pseudonym"].startswith("p1.") for c in pop.consents)


def test_today_too_early_is_refused():
    with pytest.raises(ValueError):
        demo.generate(10, provider_key=KEY, today=date(2024, 1, 15))
