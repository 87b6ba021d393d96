"""Checks for the Dutch citizen service number (BSN, burgerservicenummer).

A BSN is 9 digits and passes the *elfproef* (11-test)::

    9*d1 + 8*d2 + 7*d3 + 6*d4 + 5*d5 + 4*d6 + 3*d7 + 2*d8 - 1*d9  ==  0  (mod 11)

``000000000`` passes that test and ``999999999`` is a well-known placeholder; neither is a
person, so both are rejected as identities.

The BSN must never leave the provider.  Error messages in this module therefore say *what* is
wrong with a value (empty, length, non-digits, reserved number, elfproef) and never repeat it.
"""

from __future__ import annotations

__all__ = ["InvalidBSN", "is_valid_bsn", "looks_like_bsn", "validate_bsn"]

_ASCII_DIGITS = frozenset("0123456789")
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)
_RESERVED = frozenset({"000000000", "999999999"})
# Separators people write inside numbers: space-like characters, dots and (Unicode) dashes.
_SEPARATORS = frozenset(".-\u2010\u2011\u2012\u2013\u2014\u2212")


class InvalidBSN(ValueError):  # name fixed by the integration API
    """A value is not a usable BSN.

    ``reason`` (also ``str(exc)``) describes the problem; it never contains the value itself.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _elfproef(digits: str) -> bool:
    return sum(w * int(d) for w, d in zip(_WEIGHTS, digits, strict=True)) % 11 == 0


def _problem(value: object) -> str | None:
    """The reason ``value`` is not a valid BSN, or None when it is one (no normalisation)."""
    if not isinstance(value, str):
        return "not a string"
    if value == "":
        return "empty"
    if any(ch not in _ASCII_DIGITS for ch in value):
        return "contains characters other than the digits 0-9 (write the BSN without spaces, dots or dashes)"
    if len(value) != 9:
        hint = "; write an old 8-digit BSN with its leading zero" if len(value) == 8 else ""
        return f"not 9 digits (has {len(value)}{hint})"
    if value in _RESERVED:
        return "reserved number, not a person's BSN"
    if not _elfproef(value):
        return "fails the elfproef (11-test)"
    return None


def is_valid_bsn(value: str) -> bool:
    """True if ``value`` is exactly 9 ASCII digits, passes the elfproef and is not reserved.

    No whitespace or separators are tolerated; use :func:`validate_bsn` for user input.
    """
    return _problem(value) is None


def validate_bsn(value: str) -> str:
    """Return the BSN as a 9-digit string, or raise :class:`InvalidBSN`.

    Only surrounding whitespace is removed.  An 8-digit number is rejected rather than padded
    with a leading zero: guessing could silently link the wrong person.
    """
    if not isinstance(value, str):
        raise InvalidBSN("not a string")
    normalised = value.strip()
    problem = _problem(normalised)
    if problem is not None:
        raise InvalidBSN(problem)
    return normalised


def looks_like_bsn(value: str) -> bool:
    """True if ``value`` resembles a BSN, valid or not.

    Used to refuse BSNs where a pseudonym is expected: after removing whitespace, dots and
    dashes, the value is 9 digits (with or without a correct elfproef) or 8 digits (old BSNs
    written without their leading zero).  Any Unicode decimal digit counts, to err on the side
    of refusing.
    """
    if not isinstance(value, str) or len(value) < 8:
        return False
    # Fast path (every stage-1 pseudonym takes it: "p1..."): a first character that is neither
    # skipped (whitespace, a separator) nor a digit stays in the compact form, which is then
    # not all digits. Without it, the check costs a generator step per character.
    first = value[0]
    if not (first.isdecimal() or first.isspace() or first in _SEPARATORS):
        return False
    compact = "".join(ch for ch in value if not (ch.isspace() or ch in _SEPARATORS))
    return len(compact) in (8, 9) and compact.isdecimal()
