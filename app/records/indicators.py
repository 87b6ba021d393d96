"""Derived indicators: pure functions over one validated record.

Nothing here touches the web or a database. ``derive(record, config=...)`` turns a record into a
list of categorical ``IndicatorValue(indicator, value)``; ingestion adds one to the count of each
(cell, indicator, value) in the aggregate store, and reports compute shares and means from those
counts. No value carries record content beyond a category.

Only ended records (with an ``end_date``) yield values: the basisset and the JB/JR set measure at
the end of a trajectory, and an answer given while the trajectory runs is replaced by the
correction that ends it **(our choice)**. An ongoing record yields ``[]``.

Registry of indicator ids and values (``INDICATOR_VALUES`` holds the same in code)
-------------------------------------------------------------------------------------
Jeugdhulp (harmonised basisset); "ended" = every ended trajectory:

- ``1``                 BiJ end reason ``01``..``05`` (uitval = ``03``); ended
- ``2``                 ``mark:1`` .. ``mark:10`` or ``no_response``; ended
- ``2.informant``       ``youth`` | ``parent``; when ``2`` was answered
- ``3.1``               ``01``..``04`` or ``no_response``; ended
- ``3.1.informant``     ``youth`` | ``parent``; when ``3.1`` was answered
- ``3.2``               ``pending`` from derive; linkage later sets ``new_start`` | ``no_new_start``
- ``3.3``               ``improved`` | ``unchanged`` | ``deteriorated``; when ``outcomes.rom`` is set
- ``3.4``               ``met`` | ``not_met`` (GAS T >= 50); when ``outcomes.goals`` is set

Jeugdbescherming / jeugdreclassering (NJi proposed set); "ended" = every ended measure:

- ``jbjr.end_reason``   the measure type's end reason code; ended
- ``jbjr.course``       ``continuation`` | ``scale_down`` | ``scale_up``; when ``continuation`` is set
- ``jbjr.experience``   ``mark:1`` .. ``mark:10`` or ``no_response``; ended
- ``jbjr.experience.informant``  ``youth`` | ``parent``; when answered
- ``jbjr.repeat``       ``pending`` from derive; linkage later sets ``repeat`` | ``no_repeat``
- ``jb.threat``         ``decreased`` | ``same`` | ``increased``; JB, when ``outcomes.threat`` is set
- ``jb.acceptance.goals``, ``jb.acceptance.help``, ``jb.acceptance.role``
                        ``yes`` | ``partly`` | ``no`` | ``no_response``; every ended JB measure
- ``jr.risk``           ``lower`` | ``equal`` | ``higher`` (BiJ 41/42/43); JR, when ``outcomes.lij_risk`` is set

Client answers (``2``, ``3.1``, experience, acceptance) always yield a value, ``no_response``
when missing, so that reports can give a response rate. Professional measurements (ROM, GAS,
threat, LIJ risk) and ``continuation`` yield a value only when present: their denominators are
the records that carry them.

Why marks are stored as ``mark:<n>``: from the counts c(v) of one cell, with R = sum over n of
c(mark:n), the report computes the mean mark = sum(n * c(mark:n)) / R, the share satisfied =
sum over n >= cutoff of c(mark:n) / R (so the cut-off, default 7, stays a report-time setting),
and the response rate = R / (R + c(no_response)) (the registry's ``Indicator.figures``). Likewise
for ``3.1``: share of ``04``, share of ``02``+``03``+``04`` over answers, and response rate.

Linkage (``3.2`` geen nieuwe start, ``jbjr.repeat`` herhaald beroep) needs other trajectories of
the same stage-2 pseudonym, so ``derive`` emits ``pending`` and the linkage step later replaces it
with the outcome of ``new_start_status`` / ``repeat_status`` (below, with the window rules).
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final, Literal

from app.records.codelists import RomInstrument, load_codelists, load_rom_instruments
from app.records.schemas import (
    Goal,
    JeugdbeschermingRecord,
    JeugdhulpRecord,
    JeugdreclasseringRecord,
    Record,
    Rom,
    Satisfaction,
)

RCI_CRITICAL = 1.96
GAS_RHO = 0.3
DEFAULT_SATISFACTION_CUTOFF = 7
DEFAULT_WINDOW_MONTHS = 6
DROPOUT_END_REASON = "03"  # BiJ: ended early, one-sidedly by the client
NO_RESPONSE = "no_response"
# Final, so that the type checker reads them as the literals of LinkageStatus and RepeatStatus.
PENDING: Final = "pending"
NEW_START: Final = "new_start"
NO_NEW_START: Final = "no_new_start"
REPEAT: Final = "repeat"
NO_REPEAT: Final = "no_repeat"
MARK_PREFIX = "mark:"
# RCI and GAS T are rounded to this many decimals before they are compared with their cut-off,
# so that floating-point noise (1.9599999999999997) cannot decide an edge case.
_COMPARE_DECIMALS = 9

RomChange = Literal["improved", "unchanged", "deteriorated"]
LinkageStatus = Literal["pending", "new_start", "no_new_start"]
RepeatStatus = Literal["pending", "repeat", "no_repeat"]

_MARK_VALUES = tuple(f"{MARK_PREFIX}{n}" for n in range(1, 11))
_CODELISTS = load_codelists()
_ACCEPTANCE_VALUES = (*_CODELISTS.acceptance, NO_RESPONSE)
_INFORMANTS = tuple(_CODELISTS.informant)

#: Every indicator id and the values it can take (for the registry and for store checks).
INDICATOR_VALUES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "1": tuple(_CODELISTS.end_reason),
    "2": (*_MARK_VALUES, NO_RESPONSE),
    "2.informant": _INFORMANTS,
    "3.1": (*_CODELISTS.continue_without_help, NO_RESPONSE),
    "3.1.informant": _INFORMANTS,
    "3.2": (PENDING, NEW_START, NO_NEW_START),
    "3.3": ("improved", "unchanged", "deteriorated"),
    "3.4": ("met", "not_met"),
    "jbjr.end_reason": tuple(code for codes in _CODELISTS.end_reason_measure.values() for code in codes),
    "jbjr.course": tuple(_CODELISTS.continuation),
    "jbjr.experience": (*_MARK_VALUES, NO_RESPONSE),
    "jbjr.experience.informant": _INFORMANTS,
    "jbjr.repeat": (PENDING, REPEAT, NO_REPEAT),
    "jb.threat": ("decreased", "same", "increased"),
    "jb.acceptance.goals": _ACCEPTANCE_VALUES,
    "jb.acceptance.help": _ACCEPTANCE_VALUES,
    "jb.acceptance.role": _ACCEPTANCE_VALUES,
    "jr.risk": ("lower", "equal", "higher"),
})


class UnknownInstrument(LookupError):
    """A ROM instrument without configured parameters (SD1, r, direction)."""

    def __init__(self, instrument: str, known: Iterable[str] = ()) -> None:
        known_list = ", ".join(sorted(known)) or "none"
        super().__init__(f"unknown ROM instrument {instrument!r}; configured: {known_list}")
        self.instrument = instrument


@dataclass(frozen=True)
class IndicatorValue:
    indicator: str
    value: str


@dataclass(frozen=True)
class IndicatorConfig:
    """Deployment parameters of the derivations (from the privacy/indicator configuration)."""

    rom_instruments: Mapping[str, RomInstrument] = field(default_factory=load_rom_instruments)
    gas_rho: float = GAS_RHO
    satisfaction_cutoff: int = DEFAULT_SATISFACTION_CUTOFF  # used at report time (Indicator.figures)
    new_start_window_months: int = DEFAULT_WINDOW_MONTHS  # used by the linkage step


# -- 1 uitval ---------------------------------------------------------------------------------


def end_reason(record: Record) -> str | None:
    """The stored end reason of an ended record (BiJ code for jeugdhulp); None while ongoing."""
    return record.end_reason if record.end_date is not None else None


def dropped_out(record: Record) -> bool | None:
    """Indicator 1: did an ended jeugdhulp trajectory end early one-sidedly by the client?"""
    if not isinstance(record, JeugdhulpRecord) or record.end_date is None:
        return None
    return record.end_reason == DROPOUT_END_REASON


# -- 2 tevredenheid, JB/JR cliëntervaring ------------------------------------------------------


@dataclass(frozen=True)
class MarkAnswer:
    responded: bool
    mark: int | None = None
    satisfied: bool | None = None  # mark >= cutoff; None without a response
    informant: str | None = None


def _mark_answer(answer: Satisfaction | None, cutoff: int) -> MarkAnswer:
    if not (isinstance(cutoff, int) and 1 <= cutoff <= 10):
        raise ValueError("the satisfaction cut-off must be an integer from 1 to 10")
    if answer is None:
        return MarkAnswer(responded=False)
    return MarkAnswer(
        responded=True, mark=answer.mark, satisfied=answer.mark >= cutoff, informant=answer.informant
    )


def satisfaction(record: JeugdhulpRecord, *, cutoff: int = DEFAULT_SATISFACTION_CUTOFF) -> MarkAnswer:
    """Indicator 2: the mark for how useful the help was; satisfied when mark >= cutoff."""
    return _mark_answer(record.outcomes.satisfaction if record.outcomes else None, cutoff)


def client_experience(
    record: JeugdbeschermingRecord | JeugdreclasseringRecord, *, cutoff: int = DEFAULT_SATISFACTION_CUTOFF
) -> MarkAnswer:
    """JB/JR cliëntervaring, read like indicator 2."""
    return _mark_answer(record.outcomes.client_experience if record.outcomes else None, cutoff)


def mark_value(answer: MarkAnswer) -> str:
    """The stored value of a mark: ``mark:<n>`` or ``no_response``."""
    return f"{MARK_PREFIX}{answer.mark}" if answer.responded else NO_RESPONSE


# -- 3.1 zonder hulp verder -------------------------------------------------------------------


def continue_without_help(record: JeugdhulpRecord) -> str:
    """Indicator 3.1: the answer code 01..04, or ``no_response``."""
    answer = record.outcomes.continue_without_help if record.outcomes else None
    return answer.code if answer is not None else NO_RESPONSE


# -- 3.3 ROM: reliable change index -----------------------------------------------------------


def reliable_change_index(pre: float, post: float, instrument: RomInstrument) -> float:
    """Jacobson & Truax: RCI = (post - pre) / (SD1 * sqrt(2) * sqrt(1 - r))."""
    return (post - pre) / (instrument.sd * math.sqrt(2) * math.sqrt(1 - instrument.reliability))


def classify_change(pre: float, post: float, instrument: RomInstrument) -> RomChange:
    """Reliably improved / deteriorated when |RCI| > 1.96 (strictly), in the scale's direction."""
    rci = round(reliable_change_index(pre, post, instrument), _COMPARE_DECIMALS)
    if abs(rci) <= RCI_CRITICAL:
        return "unchanged"
    score_went_up = rci > 0
    return "improved" if score_went_up == instrument.higher_is_better else "deteriorated"


def rom_change(rom: Rom, instruments: Mapping[str, RomInstrument]) -> RomChange:
    """Indicator 3.3 for one ROM measurement; ``UnknownInstrument`` if it has no parameters."""
    instrument = instruments.get(rom.instrument)
    if instrument is None:
        raise UnknownInstrument(rom.instrument, instruments)
    return classify_change(rom.pre, rom.post, instrument)


# -- 3.4 GAS ----------------------------------------------------------------------------------


def gas_t_score(scores: Sequence[int], weights: Sequence[float] | None = None, *, rho: float = GAS_RHO) -> float:
    """Kiresuk-Sherman: T = 50 + 10 sum(w x) / sqrt((1 - rho) sum(w^2) + rho (sum w)^2)."""
    if not scores:
        raise ValueError("GAS needs at least one goal")
    weights = [1.0] * len(scores) if weights is None else list(weights)
    if len(weights) != len(scores):
        raise ValueError("GAS needs one weight per goal")
    if any(not w > 0 for w in weights):
        raise ValueError("GAS weights must be greater than 0")
    if not 0 <= rho < 1:
        raise ValueError("GAS rho must be from 0 to below 1")
    weighted = sum(w * x for w, x in zip(weights, scores, strict=True))
    spread = math.sqrt((1 - rho) * sum(w * w for w in weights) + rho * sum(weights) ** 2)
    return 50 + 10 * weighted / spread


def goals_met(goals: Sequence[Goal], *, rho: float = GAS_RHO) -> bool:
    """Indicator 3.4: the goals were met when the GAS T-score is at least 50."""
    t = gas_t_score([g.score for g in goals], [g.weight for g in goals], rho=rho)
    return round(t, _COMPARE_DECIMALS) >= 50


# -- JB / JR ----------------------------------------------------------------------------------


def threat_change(start: int, end: int) -> Literal["decreased", "same", "increased"]:
    """JB afname ontwikkelingsbedreiging: threat score (10 = most serious) at end versus start."""
    if end < start:
        return "decreased"
    return "same" if end == start else "increased"


def risk_change(start: int, end: int) -> Literal["lower", "equal", "higher"]:
    """JR afname dynamische criminogene factoren: LIJ risk total at end versus start (BiJ 41/42/43)."""
    if end < start:
        return "lower"
    return "equal" if end == start else "higher"


# -- linkage: 3.2 geen nieuwe start, JB/JR herhaald beroep ------------------------------------


def add_months(day: date, months: int) -> date:
    """Calendar-month arithmetic, clamped to the month's last day (2025-08-31 + 6 = 2026-02-28)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def follow_up_window(end_date: date, window_months: int = DEFAULT_WINDOW_MONTHS) -> tuple[date, date]:
    """The follow-up window after an end date, both days included: [end_date, end_date + months].

    A start ON the end date counts as a new start **(our choice)**: it is a hand-over (transfer
    to another provider or care type on the same day), and the youth did not go on without help.
    A start before the end date (care running in parallel) is no new start.
    """
    if not (isinstance(window_months, int) and window_months >= 1):
        raise ValueError("the follow-up window must be a whole number of months, at least 1")
    return end_date, add_months(end_date, window_months)


def new_start_status(
    end_date: date,
    other_starts: Iterable[date],
    *,
    as_of: date,
    window_months: int = DEFAULT_WINDOW_MONTHS,
) -> LinkageStatus:
    """Indicator 3.2 for one ended trajectory, as known on ``as_of``.

    ``other_starts``: start dates of the OTHER jeugdhulp trajectories of the same stage-2
    pseudonym, at any provider. Starts after ``as_of`` are not yet known and are ignored.
    ``new_start`` when a start lies in the window (see ``follow_up_window``); otherwise
    ``no_new_start`` once the window has fully passed (``as_of`` after its last day), else
    ``pending``. A late record can still turn ``no_new_start`` into ``new_start``: recompute
    when a record arrives whose start lies in a closed window.
    """
    first, last = follow_up_window(end_date, window_months)
    if any(first <= s <= last and s <= as_of for s in other_starts):
        return NEW_START
    return NO_NEW_START if as_of > last else PENDING


def repeat_status(
    start_date: date,
    end_date: date | None,
    other_starts: Iterable[date],
    *,
    as_of: date,
    window_months: int = DEFAULT_WINDOW_MONTHS,
    lookback_months: int | None = None,
) -> RepeatStatus:
    """JB/JR herhaald beroep for one measure, as known on ``as_of``.

    ``other_starts``: start dates of the OTHER measures (JB and JR) of the same stage-2
    pseudonym. ``repeat`` when another measure started before this one's start (within
    ``lookback_months`` if given, else any the TTP holds) or one starts in the follow-up window
    after the end (same window rule as 3.2); ``no_repeat`` when there is no earlier measure and
    the window has fully passed; else ``pending``.
    """
    known = [s for s in other_starts if s <= as_of]
    earliest = add_months(start_date, -lookback_months) if lookback_months is not None else date.min
    if any(earliest <= s < start_date for s in known):
        return REPEAT
    if end_date is None:
        return PENDING
    first, last = follow_up_window(end_date, window_months)
    if any(first <= s <= last for s in known):
        return REPEAT
    return NO_REPEAT if as_of > last else PENDING


# -- derive -----------------------------------------------------------------------------------


def _stored_end_reason(record: Record) -> str:
    if record.end_reason is None:  # the schemas require it with an end date
        raise ValueError("an ended record needs an end reason")
    return record.end_reason


def _jeugdhulp_values(record: JeugdhulpRecord, config: IndicatorConfig) -> list[tuple[str, str]]:
    _check_cutoff(config.satisfaction_cutoff)
    values = [("1", _stored_end_reason(record))]
    outcomes = record.outcomes
    answer = outcomes.satisfaction if outcomes else None
    if answer is not None:
        values.append(("2", f"{MARK_PREFIX}{answer.mark}"))
        values.append(("2.informant", answer.informant))
    else:
        values.append(("2", NO_RESPONSE))
    cwh = outcomes.continue_without_help if outcomes else None
    if cwh is not None:
        values.append(("3.1", cwh.code))
        values.append(("3.1.informant", cwh.informant))
    else:
        values.append(("3.1", NO_RESPONSE))
    values.append(("3.2", PENDING))
    if outcomes and outcomes.rom is not None:
        values.append(("3.3", rom_change(outcomes.rom, config.rom_instruments)))
    if outcomes and outcomes.goals:
        values.append(("3.4", "met" if goals_met(outcomes.goals, rho=config.gas_rho) else "not_met"))
    return values


_ACCEPTANCE_INDICATORS = (("goals", "jb.acceptance.goals"), ("help", "jb.acceptance.help"),
                          ("role", "jb.acceptance.role"))


def _measure_values(
    record: JeugdbeschermingRecord | JeugdreclasseringRecord, config: IndicatorConfig
) -> list[tuple[str, str]]:
    _check_cutoff(config.satisfaction_cutoff)
    values = [("jbjr.end_reason", _stored_end_reason(record))]
    if record.continuation is not None:
        values.append(("jbjr.course", record.continuation))
    outcomes = record.outcomes
    answer = outcomes.client_experience if outcomes else None
    if answer is not None:
        values.append(("jbjr.experience", f"{MARK_PREFIX}{answer.mark}"))
        values.append(("jbjr.experience.informant", answer.informant))
    else:
        values.append(("jbjr.experience", NO_RESPONSE))
    values.append(("jbjr.repeat", PENDING))
    if isinstance(record, JeugdbeschermingRecord):
        jb = record.outcomes
        if jb and jb.threat is not None:
            values.append(("jb.threat", threat_change(jb.threat.start, jb.threat.end)))
        acceptance = jb.acceptance if jb else None
        for part, indicator in _ACCEPTANCE_INDICATORS:
            answered = getattr(acceptance, part) if acceptance is not None else None
            values.append((indicator, answered or NO_RESPONSE))
    else:
        jr = record.outcomes
        if jr and jr.lij_risk is not None:
            values.append(("jr.risk", risk_change(jr.lij_risk.start, jr.lij_risk.end)))
    return values


def _check_cutoff(cutoff: int) -> None:
    if not (isinstance(cutoff, int) and 1 <= cutoff <= 10):
        raise ValueError("the satisfaction cut-off must be an integer from 1 to 10")


def derive_pairs(record: Record, *, config: IndicatorConfig) -> list[tuple[str, str]]:
    """:func:`derive` as plain ``(indicator, value)`` pairs, in the same order: what ingestion
    counts with (thousands of records per batch; no object per value)."""
    if record.end_date is None:
        return []
    if isinstance(record, JeugdhulpRecord):
        return _jeugdhulp_values(record, config)
    return _measure_values(record, config)


def derive(record: Record, *, config: IndicatorConfig | None = None) -> list[IndicatorValue]:
    """Every indicator value of one validated record (``[]`` while it is ongoing).

    Raises ``UnknownInstrument`` when the record's ROM instrument has no parameters in
    ``config.rom_instruments`` (``validate_records`` with the same instruments prevents that).
    """
    config = config or IndicatorConfig()
    return [IndicatorValue(indicator, value) for indicator, value in derive_pairs(record, config=config)]
