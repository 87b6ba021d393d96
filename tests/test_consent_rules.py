"""Tests for the pure ``consent`` package: the age rules, the status timeline, coverage and
validation. The expected age table is written out from the law, not derived from the code."""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import (
    Consent,
    ConsentAlreadyWithdrawn,
    ConsentEvent,
    ConsentEventType,
    ConsentRuleViolation,
    ConsentStatus,
    GivenBy,
    NotCovered,
    check_given_by,
    check_municipalities,
    check_purpose,
    check_validity,
    covers,
    effective_valid_until,
    renew,
    required_given_by,
    status_at,
    validate_new_consent,
    why_not_covered,
    withdraw,
)

# --- the law, written out literally -----------------------------------------------------------
# Jeugdwet 7.3.4 / 7.3.5 / 7.3.15: under 12 the parents with authority (gezag) or the guardian;
# 12 to 15 the youth and the parents together; 16 and older the youth alone. Ages 0..27 accepted.
OK, REJECT = True, False
ALL_GIVEN_BY = ("youth", "parents", "youth_and_parents", "guardian")
LAW = [
    # (first age, last age inclusive, who may consent)
    (0, 11, {"parents", "guardian"}),
    (12, 15, {"youth_and_parents"}),
    (16, 27, {"youth"}),
]
AGE_TABLE = [
    (age, who, OK if who in allowed else REJECT)
    for first, last, allowed in LAW
    for age in range(first, last + 1)
    for who in ALL_GIVEN_BY
]
# A few rows spelled out by hand, as a cross-check of the table built above.
HAND_ROWS = [
    (0, "parents", OK),
    (0, "youth", REJECT),
    (11, "parents", OK),
    (11, "guardian", OK),
    (11, "youth", REJECT),
    (11, "youth_and_parents", REJECT),
    (12, "youth_and_parents", OK),
    (12, "parents", REJECT),
    (12, "guardian", REJECT),
    (12, "youth", REJECT),
    (15, "youth_and_parents", OK),
    (15, "youth", REJECT),
    (16, "youth", OK),
    (16, "youth_and_parents", REJECT),
    (16, "parents", REJECT),
    (17, "guardian", REJECT),
    (18, "youth", OK),
    (27, "youth", OK),
    (27, "parents", REJECT),
]


def expected_allowed(age: int) -> set[str]:
    (allowed,) = [allowed for first, last, allowed in LAW if first <= age <= last]
    return allowed


def test_age_table_covers_every_age_and_role_once() -> None:
    assert len(AGE_TABLE) == 28 * 4
    assert {(age, who) for age, who, _ in AGE_TABLE} == {(a, w) for a in range(28) for w in ALL_GIVEN_BY}
    assert set(HAND_ROWS) <= set(AGE_TABLE)


@pytest.mark.parametrize(("age", "given_by", "outcome"), AGE_TABLE)
def test_age_table(age: int, given_by: str, outcome: bool) -> None:
    if outcome is OK:
        check_given_by(age, given_by)
        check_given_by(age, GivenBy(given_by))
        assert GivenBy(given_by) in required_given_by(age)
    else:
        with pytest.raises(ConsentRuleViolation) as caught:
            check_given_by(age, given_by)
        assert caught.value.field == "given_by"
        assert given_by in caught.value.reason
        assert GivenBy(given_by) not in required_given_by(age)


@pytest.mark.parametrize("age", range(28))
def test_required_given_by_is_exactly_the_law(age: int) -> None:
    result = required_given_by(age)
    assert isinstance(result, frozenset)
    assert {g.value for g in result} == expected_allowed(age)


def test_reasons_name_the_dutch_rule() -> None:
    with pytest.raises(ConsentRuleViolation) as caught:
        check_given_by(11, "youth")
    assert caught.value.reason == (
        "under 12 the parents with authority (gezag) or the guardian consent; got youth"
    )
    with pytest.raises(ConsentRuleViolation) as caught:
        check_given_by(13, "parents")
    assert "12 to 15" in caught.value.reason and caught.value.reason.endswith("got parents")
    with pytest.raises(ConsentRuleViolation) as caught:
        check_given_by(16, "youth_and_parents")
    assert "16" in caught.value.reason and "alone" in caught.value.reason
    assert str(caught.value).startswith("given_by: ")
    assert isinstance(caught.value, ValueError)
    assert caught.value.to_dict() == {"field": "given_by", "reason": caught.value.reason}


@pytest.mark.parametrize("age", [-1, -12, 28, 30, 99, 2010])
def test_age_out_of_range(age: int) -> None:
    with pytest.raises(ConsentRuleViolation) as caught:
        required_given_by(age)
    assert caught.value.field == "age_at_consent"
    for who in ALL_GIVEN_BY:
        with pytest.raises(ConsentRuleViolation) as caught:
            check_given_by(age, who)
        assert caught.value.field == "age_at_consent"


@pytest.mark.parametrize("age", [True, 12.0, "12", None])
def test_age_must_be_an_int(age: object) -> None:
    with pytest.raises(ConsentRuleViolation) as caught:
        required_given_by(age)
    assert caught.value.field == "age_at_consent"


@pytest.mark.parametrize("who", ["", "parent", "YOUTH", "Youth", "ouders", "voogd", "youth ", None, 1])
def test_unknown_given_by_lists_allowed_values(who: object) -> None:
    with pytest.raises(ConsentRuleViolation) as caught:
        check_given_by(16, who)
    assert caught.value.field == "given_by"
    for allowed in ALL_GIVEN_BY:
        assert allowed in caught.value.reason


@given(age=st.integers(min_value=0, max_value=27))
def test_property_exactly_the_allowed_set_passes(age: int) -> None:
    passing = set()
    for who in GivenBy:
        try:
            check_given_by(age, who)
        except ConsentRuleViolation as violation:
            assert violation.field == "given_by"
        else:
            passing.add(who.value)
    assert passing == expected_allowed(age)


@given(age=st.integers(min_value=0, max_value=27), who=st.text(max_size=20))
def test_property_arbitrary_strings_pass_only_when_allowed(age: int, who: str) -> None:
    try:
        check_given_by(age, who)
    except ConsentRuleViolation as violation:
        assert violation.field == "given_by"
        assert who not in expected_allowed(age)
    else:
        assert who in expected_allowed(age)


@given(age=st.one_of(st.integers(max_value=-1), st.integers(min_value=28)))
def test_property_out_of_range_ages_are_refused(age: int) -> None:
    with pytest.raises(ConsentRuleViolation) as caught:
        required_given_by(age)
    assert caught.value.field == "age_at_consent"


# --- fixtures ----------------------------------------------------------------------------------

GIVEN = date(2025, 1, 10)
UNTIL = date(2025, 12, 31)
KNOWN = frozenset({"GM0363", "GM0344", "GM0088", "GM0014"})
PURPOSES = ("outcome-monitoring",)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def make_consent(**overrides: object) -> Consent:
    fields: dict[str, object] = {
        "consent_ref": "C-2025-001",
        "provider_id": "12345678",
        "given_by": GivenBy.YOUTH_AND_PARENTS,
        "age_at_consent": 14,
        "purpose": "outcome-monitoring",
        "data_categories": ("trajectory", "outcomes"),
        "controller": "Outcome TTP foundation",
        "recipients": ("municipality",),
        "municipalities": ("GM0363",),
        "given_at": GIVEN,
        "valid_until": UNTIL,
        "withdrawal_method": "tell the provider or email the TTP",
        "events": (ConsentEvent(ConsentEventType.GIVEN, at(GIVEN)),),
    }
    fields.update(overrides)
    return Consent(**fields)


# --- model ---------------------------------------------------------------------------------------


def test_consent_is_frozen_and_lists_become_tuples() -> None:
    consent = make_consent(municipalities=["GM0363", "GM0344"], recipients=["a"], events=[])
    assert consent.municipalities == ("GM0363", "GM0344")
    assert consent.recipients == ("a",)
    assert consent.events == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        consent.purpose = "other"
    assert "pseudonym" not in {f.name for f in dataclasses.fields(Consent)}
    hash(consent)


def test_enum_values_are_the_wire_values() -> None:
    assert [g.value for g in GivenBy] == ["youth", "parents", "youth_and_parents", "guardian"]
    assert [e.value for e in ConsentEventType] == ["given", "renewed", "withdrawn", "expired"]
    assert {s.value for s in ConsentStatus} == {"active", "withdrawn", "expired", "not_yet_valid"}
    assert GivenBy.YOUTH == "youth" and ConsentStatus.ACTIVE == "active"


# --- status timelines ---------------------------------------------------------------------------


def test_status_given_only() -> None:
    consent = make_consent()
    assert status_at(consent, GIVEN - timedelta(days=1)) is ConsentStatus.NOT_YET_VALID
    assert status_at(consent, GIVEN) is ConsentStatus.ACTIVE
    assert status_at(consent, date(2025, 6, 1)) is ConsentStatus.ACTIVE
    assert status_at(consent, UNTIL) is ConsentStatus.ACTIVE  # the valid_until day itself
    assert status_at(consent, UNTIL + timedelta(days=1)) is ConsentStatus.EXPIRED
    assert status_at(consent, date(2030, 1, 1)) is ConsentStatus.EXPIRED


def test_status_open_ended_never_expires() -> None:
    consent = make_consent(valid_until=None)
    assert status_at(consent, date(2099, 1, 1)) is ConsentStatus.ACTIVE


def test_status_accepts_a_datetime() -> None:
    consent = make_consent()
    assert status_at(consent, at(UNTIL, 23)) is ConsentStatus.ACTIVE
    assert status_at(consent, at(UNTIL + timedelta(days=1), 0)) is ConsentStatus.EXPIRED


def test_renewal_extends_from_its_day_on() -> None:
    renewed_on = date(2025, 12, 1)
    new_until = date(2026, 12, 31)
    consent = renew(make_consent(), at(renewed_on), new_until)
    assert consent.events[-1] == ConsentEvent(ConsentEventType.RENEWED, at(renewed_on), new_until)
    assert status_at(consent, UNTIL + timedelta(days=1)) is ConsentStatus.ACTIVE
    assert status_at(consent, new_until) is ConsentStatus.ACTIVE
    assert status_at(consent, new_until + timedelta(days=1)) is ConsentStatus.EXPIRED
    assert effective_valid_until(consent, renewed_on - timedelta(days=1)) == UNTIL
    assert effective_valid_until(consent, renewed_on) == new_until


def test_renewal_after_expiry_reactivates() -> None:
    expired_day = UNTIL + timedelta(days=1)
    consent = make_consent(events=(ConsentEvent(ConsentEventType.EXPIRED, at(expired_day)),))
    assert status_at(consent, expired_day) is ConsentStatus.EXPIRED
    renewed = renew(consent, at(date(2026, 2, 1)), date(2027, 1, 31))
    assert status_at(renewed, date(2026, 1, 31)) is ConsentStatus.EXPIRED
    assert status_at(renewed, date(2026, 2, 1)) is ConsentStatus.ACTIVE
    assert status_at(renewed, date(2027, 2, 1)) is ConsentStatus.EXPIRED


def test_expired_event_ends_consent_early() -> None:
    consent = make_consent(events=(ConsentEvent(ConsentEventType.EXPIRED, at(date(2025, 6, 1))),))
    assert status_at(consent, date(2025, 5, 31)) is ConsentStatus.ACTIVE
    assert status_at(consent, date(2025, 6, 1)) is ConsentStatus.EXPIRED


def test_withdrawal_takes_effect_on_its_day_and_wins() -> None:
    withdrawn_on = date(2025, 3, 15)
    consent = withdraw(make_consent(), at(withdrawn_on))
    assert consent.events[-1].type is ConsentEventType.WITHDRAWN
    assert status_at(consent, withdrawn_on - timedelta(days=1)) is ConsentStatus.ACTIVE
    assert status_at(consent, withdrawn_on) is ConsentStatus.WITHDRAWN
    assert status_at(consent, UNTIL + timedelta(days=100)) is ConsentStatus.WITHDRAWN  # not "expired"


def test_withdrawal_of_an_expired_consent_is_possible_and_wins() -> None:
    later = UNTIL + timedelta(days=10)
    consent = withdraw(make_consent(), at(later))
    assert status_at(consent, later - timedelta(days=1)) is ConsentStatus.EXPIRED
    assert status_at(consent, later) is ConsentStatus.WITHDRAWN


def test_withdrawal_is_final() -> None:
    consent = withdraw(make_consent(), at(date(2025, 3, 15)))
    with pytest.raises(ConsentAlreadyWithdrawn):
        withdraw(consent, at(date(2025, 3, 16)))
    with pytest.raises(ConsentAlreadyWithdrawn):
        renew(consent, at(date(2025, 4, 1)), date(2026, 4, 1))
    # even a renewal dated before the withdrawal is refused once it is recorded
    with pytest.raises(ConsentAlreadyWithdrawn):
        renew(consent, at(date(2025, 2, 1)), date(2026, 4, 1))


def test_withdraw_and_renew_do_not_mutate() -> None:
    original = make_consent()
    withdraw(original, at(date(2025, 3, 15)))
    renew(original, at(date(2025, 3, 15)), date(2026, 1, 1))
    assert len(original.events) == 1
    assert status_at(original, date(2025, 6, 1)) is ConsentStatus.ACTIVE


def test_renewal_must_be_sane() -> None:
    with pytest.raises(ValueError, match="end before"):
        renew(make_consent(), at(date(2025, 6, 1)), date(2025, 5, 31))
    with pytest.raises(ValueError, match="precede"):
        renew(make_consent(), at(GIVEN - timedelta(days=1)), date(2026, 1, 1))
    renewed = renew(make_consent(), at(date(2025, 6, 1)), None)  # open-ended
    assert status_at(renewed, date(2099, 1, 1)) is ConsentStatus.ACTIVE


@given(
    withdraw_offset=st.integers(min_value=0, max_value=800),
    probe_offset=st.integers(min_value=-30, max_value=900),
)
def test_property_withdrawn_from_its_day_on(withdraw_offset: int, probe_offset: int) -> None:
    withdrawn_on = GIVEN + timedelta(days=withdraw_offset)
    probe = GIVEN + timedelta(days=probe_offset)
    consent = withdraw(make_consent(), at(withdrawn_on))
    status = status_at(consent, probe)
    assert (status is ConsentStatus.WITHDRAWN) == (probe >= withdrawn_on)


# --- coverage -------------------------------------------------------------------------------------


def test_covers_when_everything_fits() -> None:
    consent = make_consent(municipalities=("GM0363", "GM0344"))
    for code in ("GM0363", "GM0344"):
        assert covers(consent, municipality=code, purpose="outcome-monitoring", at=date(2025, 6, 1))
        assert why_not_covered(consent, municipality=code, purpose="outcome-monitoring", at=GIVEN) is None


@pytest.mark.parametrize(
    ("consent", "municipality", "purpose", "day", "reason"),
    [
        (
            withdraw(make_consent(), at(date(2025, 3, 1))),
            "GM0363",
            "outcome-monitoring",
            date(2025, 3, 1),
            "withdrawn",
        ),
        (make_consent(), "GM0363", "outcome-monitoring", UNTIL + timedelta(days=1), "expired"),
        (make_consent(), "GM0363", "outcome-monitoring", GIVEN - timedelta(days=1), "not yet valid"),
        (
            make_consent(),
            "GM0344",
            "outcome-monitoring",
            date(2025, 6, 1),
            "municipality not in the consent's scope",
        ),
        (make_consent(), "GM0363", "research", date(2025, 6, 1), "purpose differs"),
        # the status is reported before scope and purpose
        (withdraw(make_consent(), at(date(2025, 3, 1))), "GM0344", "research", date(2025, 6, 1), "withdrawn"),
    ],
)
def test_why_not_covered(consent: Consent, municipality: str, purpose: str, day: date, reason: str) -> None:
    got = why_not_covered(consent, municipality=municipality, purpose=purpose, at=day)
    assert got == reason
    assert isinstance(got, NotCovered)
    assert not covers(consent, municipality=municipality, purpose=purpose, at=day)


# --- single checks ---------------------------------------------------------------------------------


def test_check_purpose() -> None:
    check_purpose("outcome-monitoring", PURPOSES)
    for bad in ("research", "Outcome-Monitoring", "", "outcome-monitoring "):
        with pytest.raises(ConsentRuleViolation) as caught:
            check_purpose(bad, PURPOSES)
        assert caught.value.field == "purpose"
        assert "outcome-monitoring" in caught.value.reason
    with pytest.raises(ConsentRuleViolation):
        check_purpose("outcome-monitoring", [])


TODAY = date(2025, 6, 1)


@pytest.mark.parametrize(
    ("given_at", "valid_until", "field"),
    [
        (TODAY, None, None),
        (TODAY, TODAY, None),  # expiring today is still valid today
        (date(2024, 1, 1), date(2026, 1, 1), None),
        (TODAY + timedelta(days=1), None, "given_at"),
        (TODAY, TODAY - timedelta(days=1), "valid_until"),  # before given_at
        (date(2024, 1, 1), TODAY - timedelta(days=1), "valid_until"),  # already expired
    ],
)
def test_check_validity(given_at: date, valid_until: date | None, field: str | None) -> None:
    if field is None:
        check_validity(given_at, valid_until, TODAY)
    else:
        with pytest.raises(ConsentRuleViolation) as caught:
            check_validity(given_at, valid_until, TODAY)
        assert caught.value.field == field


def test_check_validity_reasons_differ() -> None:
    with pytest.raises(ConsentRuleViolation, match="before given_at"):
        check_validity(date(2025, 5, 1), date(2025, 4, 1), TODAY)
    with pytest.raises(ConsentRuleViolation, match="already expired"):
        check_validity(date(2025, 1, 1), date(2025, 5, 31), TODAY)


@pytest.mark.parametrize(
    ("codes", "field"),
    [
        (["GM0363"], None),
        (("GM0363", "GM0344"), None),
        ([], "municipalities"),
        ("GM0363", "municipalities"),  # a single string is not a list of codes
        (["GM0363", "GM363"], "municipalities[1]"),
        (["gm0363"], "municipalities[0]"),
        (["GM03631"], "municipalities[0]"),
        (["GM０３６３"], "municipalities[0]"),  # full-width digits are not ASCII digits
        (["GM0363", "GM9999"], "municipalities[1]"),  # well-formed but unknown
        (["GM0363", "GM0344", "GM0363"], "municipalities[2]"),  # duplicate
    ],
)
def test_check_municipalities(codes: list[str], field: str | None) -> None:
    if field is None:
        check_municipalities(codes, KNOWN)
    else:
        with pytest.raises(ConsentRuleViolation) as caught:
            check_municipalities(codes, KNOWN)
        assert caught.value.field == field


# --- a new consent as a whole ---------------------------------------------------------------------


def test_valid_new_consent_has_no_violations() -> None:
    consent = make_consent(municipalities=("GM0363", "GM0344"))
    found = validate_new_consent(consent, today=TODAY, allowed_purposes=PURPOSES, known_municipalities=KNOWN)
    assert found == []


def test_validate_new_consent_reports_everything_at_once() -> None:
    consent = make_consent(
        consent_ref=" ",
        given_by="youth",
        age_at_consent=11,
        purpose="marketing",
        given_at=TODAY + timedelta(days=3),
        valid_until=TODAY + timedelta(days=1),
        municipalities=("GM0363", "XX0001", "GM9999", "GM0363"),
    )
    found = validate_new_consent(consent, today=TODAY, allowed_purposes=PURPOSES, known_municipalities=KNOWN)
    assert all(isinstance(v, ConsentRuleViolation) for v in found)
    assert [v.field for v in found] == [
        "consent_ref",
        "given_by",
        "purpose",
        "given_at",
        "valid_until",
        "municipalities[1]",
        "municipalities[2]",
        "municipalities[3]",
    ]
    assert "gezag" in found[1].reason


def test_validate_new_consent_bad_age_and_unknown_given_by_both_reported() -> None:
    consent = make_consent(age_at_consent=40, given_by="mother", municipalities=())
    found = validate_new_consent(consent, today=TODAY, allowed_purposes=PURPOSES, known_municipalities=KNOWN)
    assert [v.field for v in found] == ["age_at_consent", "given_by", "municipalities"]


def test_validate_new_consent_bad_age_alone_does_not_blame_given_by() -> None:
    consent = make_consent(age_at_consent=-1, given_by=GivenBy.YOUTH)
    found = validate_new_consent(consent, today=TODAY, allowed_purposes=PURPOSES, known_municipalities=KNOWN)
    assert [v.field for v in found] == ["age_at_consent"]


# --- boundaries of the package ---------------------------------------------------------------------


def test_consent_package_imports_nothing_from_app_nor_web_or_db() -> None:
    forbidden = {"app", "fastapi", "sqlalchemy", "pydantic", "starlette", "psycopg"}
    package = Path(__file__).resolve().parent.parent / "consent"
    sources = sorted(package.glob("*.py"))
    assert sources
    for source in sources:
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]} if node.level == 0 else set()
            else:
                continue
            assert not roots & forbidden, f"{source.name} imports {roots & forbidden}"
