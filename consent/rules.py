"""The rules a consent must satisfy, and whether a consent covers a use of data.

Who may consent follows the Jeugdwet (Dutch Youth Act), which applies the WGBO age rules to
youth care:

- under 12: the parents with authority (gezag) or the guardian (voogd) consent;
- 12 to 15: both the youth and the parents with authority (or the guardian);
- 16 and older: the youth alone.

(Jeugdwet art. 7.3.4, 7.3.5 and 7.3.15, mirroring the WGBO's BW 7:447 and 7:450.)

Sharing data with a third party needs that consent (art. 7.3.11). Each ``check_*`` function
raises the first :class:`ConsentRuleViolation` it finds; :func:`validate_new_consent`
collects every violation so an API can report them all at once.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Sequence
from datetime import date, datetime
from enum import StrEnum

from consent.model import Consent, ConsentStatus, GivenBy, status_at

__all__ = [
    "MAX_AGE",
    "MIN_AGE",
    "ConsentRuleViolation",
    "NotCovered",
    "check_given_by",
    "check_municipalities",
    "check_purpose",
    "check_validity",
    "covers",
    "required_given_by",
    "validate_new_consent",
    "why_not_covered",
]

MIN_AGE = 0
#: Youth care ends at 18 and can be extended to 23; the bound is generous on purpose (late
#: registrations, adolescent criminal law) but still catches typos such as a birth year.
MAX_AGE = 27

_MUNICIPALITY_CODE = re.compile(r"GM[0-9]{4}")
_ALLOWED_GIVEN_BY = ", ".join(g.value for g in GivenBy)


class ConsentRuleViolation(ValueError):  # the name is part of the agreed API
    """One broken rule: ``field`` names the offending field, ``reason`` explains in English."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")

    def to_dict(self) -> dict[str, str]:
        """The violation as ``{"field": ..., "reason": ...}`` for an error body."""
        return {"field": self.field, "reason": self.reason}

    def __repr__(self) -> str:
        return f"ConsentRuleViolation(field={self.field!r}, reason={self.reason!r})"


class NotCovered(StrEnum):
    """Why a consent does not cover a use of data (the values are the reasons given in a 409)."""

    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    NOT_YET_VALID = "not yet valid"
    PURPOSE_DIFFERS = "purpose differs"
    MUNICIPALITY_OUT_OF_SCOPE = "municipality not in the consent's scope"


# --- who consents ---------------------------------------------------------------------------


def _age_violation(age: object) -> ConsentRuleViolation | None:
    if not isinstance(age, int) or isinstance(age, bool):
        return ConsentRuleViolation("age_at_consent", f"must be a whole number of years; got {age!r}")
    if not MIN_AGE <= age <= MAX_AGE:
        return ConsentRuleViolation(
            "age_at_consent",
            f"must be between {MIN_AGE} and {MAX_AGE} (youth care ends at 18, extendable to 23); got {age}",
        )
    return None


def required_given_by(age: int) -> frozenset[GivenBy]:
    """Who may give consent at ``age`` (Jeugdwet 7.3.4, 7.3.5, 7.3.15).

    Under 12: the parents with authority (gezag) or the guardian; 12 to 15: the youth and the
    parents together; 16 and older: the youth alone. Raises :class:`ConsentRuleViolation`
    (field ``age_at_consent``) for an age outside ``MIN_AGE..MAX_AGE``.
    """
    violation = _age_violation(age)
    if violation is not None:
        raise violation
    if age < 12:
        return frozenset({GivenBy.PARENTS, GivenBy.GUARDIAN})
    if age < 16:
        return frozenset({GivenBy.YOUTH_AND_PARENTS})
    return frozenset({GivenBy.YOUTH})


def _parse_given_by(given_by: object) -> GivenBy:
    if isinstance(given_by, GivenBy):
        return given_by
    if isinstance(given_by, str):
        try:
            return GivenBy(given_by)
        except ValueError:
            pass
    raise ConsentRuleViolation("given_by", f"must be one of {_ALLOWED_GIVEN_BY}; got {given_by!r}")


def _given_by_reason(age: int, given_by: GivenBy) -> str:
    if age < 12:
        rule = "under 12 the parents with authority (gezag) or the guardian consent"
    elif age < 16:
        rule = "from 12 to 15 both the youth and the parents with authority consent"
    else:
        rule = "from 16 the youth consents alone"
    return f"{rule}; got {given_by.value}"


def check_given_by(age: int, given_by: GivenBy | str) -> None:
    """Raise :class:`ConsentRuleViolation` unless ``given_by`` may consent at ``age``.

    An unknown ``given_by`` gives field ``given_by`` with the allowed values; an age out of
    range gives field ``age_at_consent`` (see :func:`required_given_by`).
    """
    parsed = _parse_given_by(given_by)
    if parsed not in required_given_by(age):
        raise ConsentRuleViolation("given_by", _given_by_reason(age, parsed))


# --- purpose, validity, scope -----------------------------------------------------------------


def check_purpose(purpose: str, allowed: Iterable[str]) -> None:
    """Raise :class:`ConsentRuleViolation` (field ``purpose``) unless ``purpose`` is allowed.

    Purposes are identifiers and compared exactly.
    """
    allowed_list = sorted(set(allowed))
    if not isinstance(purpose, str) or purpose not in allowed_list:
        listed = ", ".join(allowed_list) or "(none configured)"
        raise ConsentRuleViolation("purpose", f"must be one of {listed}; got {purpose!r}")


def _validity_violations(given_at: date, valid_until: date | None, today: date) -> list[ConsentRuleViolation]:
    if not isinstance(given_at, date):
        return [ConsentRuleViolation("given_at", f"must be a date; got {given_at!r}")]
    if valid_until is not None and not isinstance(valid_until, date):
        return [ConsentRuleViolation("valid_until", f"must be a date or absent; got {valid_until!r}")]
    given_day = given_at.date() if isinstance(given_at, datetime) else given_at
    end = valid_until.date() if isinstance(valid_until, datetime) else valid_until
    today = today.date() if isinstance(today, datetime) else today
    found: list[ConsentRuleViolation] = []
    if given_day > today:
        found.append(ConsentRuleViolation("given_at", f"lies in the future ({given_day} after {today})"))
    if end is not None and end < given_day:
        found.append(ConsentRuleViolation("valid_until", f"lies before given_at ({end} before {given_day})"))
    elif end is not None and end < today:
        found.append(
            ConsentRuleViolation("valid_until", f"the consent has already expired ({end} before {today})")
        )
    return found


def check_validity(given_at: date, valid_until: date | None, today: date) -> None:
    """Raise :class:`ConsentRuleViolation` unless the validity period can be registered today.

    ``given_at`` must not lie in the future (field ``given_at``); ``valid_until`` must not lie
    before ``given_at`` nor before ``today``: a consent registered already expired is refused
    (field ``valid_until``). ``valid_until == today`` is fine (that day is still active).
    """
    found = _validity_violations(given_at, valid_until, today)
    if found:
        raise found[0]


def _municipality_violations(codes: Sequence[str], known: Container[str]) -> list[ConsentRuleViolation]:
    if isinstance(codes, str | bytes) or not isinstance(codes, Sequence):
        return [ConsentRuleViolation("municipalities", f"must be a list of GMxxxx codes; got {codes!r}")]
    if not codes:
        return [ConsentRuleViolation("municipalities", "must name at least one municipality")]
    found: list[ConsentRuleViolation] = []
    first_index: dict[str, int] = {}
    for i, code in enumerate(codes):
        where = f"municipalities[{i}]"
        if not isinstance(code, str) or not _MUNICIPALITY_CODE.fullmatch(code):
            found.append(ConsentRuleViolation(where, f"must be 'GM' and four digits; got {code!r}"))
        elif code in first_index:
            earlier = f"municipalities[{first_index[code]}]"
            found.append(ConsentRuleViolation(where, f"{code} duplicates {earlier}"))
        elif code not in known:
            first_index[code] = i
            found.append(ConsentRuleViolation(where, f"unknown municipality code {code}"))
        else:
            first_index[code] = i
    return found


def check_municipalities(codes: Sequence[str], known: Container[str]) -> None:
    """Raise :class:`ConsentRuleViolation` unless ``codes`` is a valid municipality scope.

    The list must be non-empty (field ``municipalities``); each code must be ``GM`` plus four
    digits, be in ``known``, and appear once (field ``municipalities[i]``).
    """
    found = _municipality_violations(codes, known)
    if found:
        raise found[0]


# --- a new consent as a whole ---------------------------------------------------------------


def validate_new_consent(
    consent: Consent,
    *,
    today: date,
    allowed_purposes: Iterable[str],
    known_municipalities: Container[str],
) -> list[ConsentRuleViolation]:
    """Every rule a consent being registered breaks, in field order; empty when it is valid."""
    found: list[ConsentRuleViolation] = []
    if not isinstance(consent.consent_ref, str) or not consent.consent_ref.strip():
        found.append(ConsentRuleViolation("consent_ref", "must be a non-empty reference"))

    age_problem = _age_violation(consent.age_at_consent)
    if age_problem is not None:
        found.append(age_problem)
    try:
        given_by = _parse_given_by(consent.given_by)
    except ConsentRuleViolation as violation:
        found.append(violation)
    else:
        if age_problem is None:
            try:
                check_given_by(consent.age_at_consent, given_by)
            except ConsentRuleViolation as violation:
                found.append(violation)

    try:
        check_purpose(consent.purpose, allowed_purposes)
    except ConsentRuleViolation as violation:
        found.append(violation)

    found.extend(_validity_violations(consent.given_at, consent.valid_until, today))
    found.extend(_municipality_violations(consent.municipalities, known_municipalities))
    return found


# --- does a consent cover a use? ----------------------------------------------------------------

_STATUS_REASON = {
    ConsentStatus.WITHDRAWN: NotCovered.WITHDRAWN,
    ConsentStatus.EXPIRED: NotCovered.EXPIRED,
    ConsentStatus.NOT_YET_VALID: NotCovered.NOT_YET_VALID,
}


def why_not_covered(consent: Consent, *, municipality: str, purpose: str, at: date) -> NotCovered | None:
    """Why ``consent`` does not cover use for ``purpose`` in ``municipality`` on ``at``, or None.

    The status is checked first (withdrawn, not yet valid, expired), then the purpose, then
    the municipality; the first failing reason is returned.
    """
    status = status_at(consent, at)
    if status is not ConsentStatus.ACTIVE:
        return _STATUS_REASON[status]
    if purpose != consent.purpose:
        return NotCovered.PURPOSE_DIFFERS
    if municipality not in consent.municipalities:
        return NotCovered.MUNICIPALITY_OUT_OF_SCOPE
    return None


def covers(consent: Consent, *, municipality: str, purpose: str, at: date) -> bool:
    """True when the consent is active on ``at`` for ``purpose`` and ``municipality`` is in scope."""
    return why_not_covered(consent, municipality=municipality, purpose=purpose, at=at) is None
