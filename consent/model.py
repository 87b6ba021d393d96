"""The consent record, after ISO/IEC TS 27560 (consent record information structure).

A :class:`Consent` is the legal record of one consent: who gave it, for which purpose and
which data categories, to which controller and recipients, for which municipalities, when,
for how long, how it can be withdrawn, and its events (given, renewed, withdrawn, expired).

The stage-2 pseudonym is deliberately not part of this model: storage attaches it. This
module is pure (stdlib only, no I/O) and every object in it is immutable; ``withdraw`` and
``renew`` return a new :class:`Consent` with one more event.

Dates versus instants: ``given_at`` and ``valid_until`` are calendar dates; events carry a
``datetime``. ``status_at`` works per calendar day, using ``event.at.date()`` (the date in the
event's own time zone when it is aware). A withdrawal on day D makes the consent withdrawn for
the whole of day D. The ``valid_until`` day itself is still active; the day after is expired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "Consent",
    "ConsentAlreadyWithdrawn",
    "ConsentEvent",
    "ConsentEventType",
    "ConsentStatus",
    "GivenBy",
    "effective_valid_until",
    "is_withdrawn",
    "renew",
    "status_at",
    "withdraw",
    "withdrawn_at",
]


class GivenBy(StrEnum):
    """Who gave the consent (Jeugdwet 7.3.4, 7.3.5, 7.3.15; see ``consent.rules``)."""

    YOUTH = "youth"
    PARENTS = "parents"  # the parents with authority (gezag)
    YOUTH_AND_PARENTS = "youth_and_parents"
    GUARDIAN = "guardian"  # voogd


class ConsentEventType(StrEnum):
    """The events of a consent's life (ISO/IEC TS 27560 consent event types)."""

    GIVEN = "given"
    RENEWED = "renewed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ConsentStatus(StrEnum):
    """The state of a consent on a given day."""

    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


class ConsentAlreadyWithdrawn(Exception):  # the name is part of the agreed API
    """Withdrawal is final: a withdrawn consent can be neither withdrawn again nor renewed."""

    def __init__(self, consent_ref: str, withdrawn_on: datetime) -> None:
        self.consent_ref = consent_ref
        self.withdrawn_on = withdrawn_on
        super().__init__(f"consent {consent_ref!r} was withdrawn at {withdrawn_on.isoformat()}")


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One event; ``valid_until`` is the new end date of a ``renewed`` event (None: open-ended)."""

    type: ConsentEventType
    at: datetime
    valid_until: date | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """The legal record of one consent (ISO/IEC TS 27560).

    Sequence fields are stored as tuples; lists passed in are converted, so a record built
    from JSON stays hashable and immutable.
    """

    consent_ref: str  # the provider's own reference
    provider_id: str  # AGB code of the provider that registered it
    given_by: GivenBy
    age_at_consent: int
    purpose: str  # e.g. "outcome-monitoring"
    data_categories: tuple[str, ...]
    controller: str
    recipients: tuple[str, ...]
    municipalities: tuple[str, ...]  # GMxxxx codes: the scope
    given_at: date
    valid_until: date | None
    withdrawal_method: str
    events: tuple[ConsentEvent, ...] = field(default=())

    def __post_init__(self) -> None:
        for name in ("data_categories", "recipients", "municipalities", "events"):
            value = getattr(self, name)
            if not isinstance(value, tuple) and isinstance(value, Iterable) and not isinstance(value, str):
                object.__setattr__(self, name, tuple(value))


def _day(at: date) -> date:
    """The calendar day of a date or datetime (a datetime is a date subclass)."""
    return at.date() if isinstance(at, datetime) else at


def _events_until(consent: Consent, day: date) -> list[ConsentEvent]:
    """The events on or before ``day``, in chronological order (stable for equal instants)."""
    return sorted((e for e in consent.events if e.at.date() <= day), key=lambda e: e.at)


def withdrawn_at(consent: Consent) -> datetime | None:
    """The instant of the (first) withdrawal, or None if the consent was never withdrawn."""
    instants = [e.at for e in consent.events if e.type is ConsentEventType.WITHDRAWN]
    return min(instants) if instants else None


def is_withdrawn(consent: Consent) -> bool:
    """True once any withdrawal has been recorded, whatever its date (withdrawal is final)."""
    return withdrawn_at(consent) is not None


def effective_valid_until(consent: Consent, at: date) -> date | None:
    """The end date in force on ``at``: the latest renewal on or before ``at`` wins."""
    end = consent.valid_until
    for event in _events_until(consent, _day(at)):
        if event.type is ConsentEventType.RENEWED:
            end = event.valid_until
    return end


def status_at(consent: Consent, at: date) -> ConsentStatus:
    """The consent's status on day ``at``.

    Order of precedence: a withdrawal on or before ``at`` wins over everything; then a day
    before ``given_at`` is ``not_yet_valid``; then the consent is ``expired`` after its
    effective end date (renewals extend it) or after an ``expired`` event that no later
    renewal undid; otherwise it is ``active``.
    """
    day = _day(at)
    end = consent.valid_until
    expired_event = False
    for event in _events_until(consent, day):
        if event.type is ConsentEventType.WITHDRAWN:
            return ConsentStatus.WITHDRAWN
        if event.type is ConsentEventType.RENEWED:
            end = event.valid_until
            expired_event = False
        elif event.type is ConsentEventType.EXPIRED:
            expired_event = True
    if day < consent.given_at:
        return ConsentStatus.NOT_YET_VALID
    if expired_event or (end is not None and day > end):
        return ConsentStatus.EXPIRED
    return ConsentStatus.ACTIVE


def withdraw(consent: Consent, at: datetime) -> Consent:
    """A copy of ``consent`` with a ``withdrawn`` event at ``at``.

    Raises :class:`ConsentAlreadyWithdrawn` if a withdrawal is already recorded. Withdrawing
    an expired or not yet valid consent is allowed: withdrawal must always be possible.
    """
    previous = withdrawn_at(consent)
    if previous is not None:
        raise ConsentAlreadyWithdrawn(consent.consent_ref, previous)
    event = ConsentEvent(type=ConsentEventType.WITHDRAWN, at=at)
    return replace(consent, events=(*consent.events, event))


def renew(consent: Consent, at: datetime, valid_until: date | None) -> Consent:
    """A copy of ``consent`` with a ``renewed`` event at ``at`` setting a new end date.

    ``valid_until`` None means open-ended. Raises :class:`ConsentAlreadyWithdrawn` if the
    consent was withdrawn (at any time: withdrawal is final), and ``ValueError`` if the new
    end date lies before the renewal day or the renewal precedes ``given_at``.
    """
    previous = withdrawn_at(consent)
    if previous is not None:
        raise ConsentAlreadyWithdrawn(consent.consent_ref, previous)
    if at.date() < consent.given_at:
        raise ValueError(f"a renewal on {at.date()} cannot precede the consent given on {consent.given_at}")
    if valid_until is not None and valid_until < at.date():
        raise ValueError(f"a renewal on {at.date()} cannot end before it is made ({valid_until})")
    event = ConsentEvent(type=ConsentEventType.RENEWED, at=at, valid_until=valid_until)
    return replace(consent, events=(*consent.events, event))
