"""Consent: the legal record (ISO/IEC TS 27560) and the Dutch-law rules around it.

Pure library code: no web, no database, nothing from ``app``. Storage attaches the stage-2
pseudonym; the HTTP layer maps :class:`ConsentRuleViolation` to 400 and
:func:`why_not_covered` reasons to 409.
"""

from consent.model import (
    Consent,
    ConsentAlreadyWithdrawn,
    ConsentEvent,
    ConsentEventType,
    ConsentStatus,
    GivenBy,
    effective_valid_until,
    is_withdrawn,
    renew,
    status_at,
    withdraw,
    withdrawn_at,
)
from consent.rules import (
    MAX_AGE,
    MIN_AGE,
    ConsentRuleViolation,
    NotCovered,
    check_given_by,
    check_municipalities,
    check_purpose,
    check_validity,
    covers,
    required_given_by,
    validate_new_consent,
    why_not_covered,
)

__all__ = [
    "MAX_AGE",
    "MIN_AGE",
    "Consent",
    "ConsentAlreadyWithdrawn",
    "ConsentEvent",
    "ConsentEventType",
    "ConsentRuleViolation",
    "ConsentStatus",
    "GivenBy",
    "NotCovered",
    "check_given_by",
    "check_municipalities",
    "check_purpose",
    "check_validity",
    "covers",
    "effective_valid_until",
    "is_withdrawn",
    "renew",
    "required_given_by",
    "status_at",
    "validate_new_consent",
    "why_not_covered",
    "withdraw",
    "withdrawn_at",
]
