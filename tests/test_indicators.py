"""Derived indicators. Expected values are worked out by hand and written as literals."""

import copy
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.records.codelists import RomInstrument, load_rom_instruments
from app.records.indicators import (
    INDICATOR_VALUES,
    IndicatorConfig,
    IndicatorValue,
    UnknownInstrument,
    add_months,
    classify_change,
    client_experience,
    continue_without_help,
    derive,
    dropped_out,
    end_reason,
    follow_up_window,
    gas_t_score,
    goals_met,
    new_start_status,
    reliable_change_index,
    repeat_status,
    risk_change,
    rom_change,
    satisfaction,
    threat_change,
)
from app.records.schemas import EXAMPLE_RECORDS, Goal, Rom, validate_records

TODAY = date(2025, 7, 1)

# SD 5, r 0.92: the RCI denominator is 5 * sqrt(2) * sqrt(0.08) = 5 * sqrt(0.16) = 2.0 exactly.
LOWER_BETTER = RomInstrument(name="L", sd=5.0, reliability=0.92, higher_is_better=False)
HIGHER_BETTER = RomInstrument(name="H", sd=5.0, reliability=0.92, higher_is_better=True)


def record(data, **changes):
    data = copy.deepcopy(data)
    data.update(changes)
    records, errors = validate_records([data], today=TODAY)
    assert errors == []
    return records[0]


def jeugdhulp(**changes):
    return record(EXAMPLE_RECORDS["jeugdhulp"], **changes)


def with_outcomes(base, outcomes, **changes):
    return record(base, outcomes=outcomes, **changes)


# -- 1 uitval --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_code", "bij", "dropout"),
    [("31", "01", False), ("34", "02", False), ("32", "03", True), ("33", "04", False),
     ("35", "05", False), ("03", "03", True), ("01", "01", False)],
)
def test_dropout_from_both_code_systems(given_code, bij, dropout):
    r = jeugdhulp(end_reason=given_code)
    assert end_reason(r) == bij
    assert dropped_out(r) is dropout
    assert IndicatorValue("1", bij) in derive(r)


def test_dropout_only_for_ended_trajectories():
    ongoing = jeugdhulp(end_date=None, end_reason=None)
    assert end_reason(ongoing) is None
    assert dropped_out(ongoing) is None
    assert derive(ongoing) == []


# -- 2 satisfaction --------------------------------------------------------------------------


def sat(mark):
    return {"satisfaction": {"mark": mark, "informant": "parent"}}


@pytest.mark.parametrize(
    ("mark", "cutoff", "satisfied"),
    [(7, 7, True), (6, 7, False), (10, 7, True), (1, 7, False), (7, 8, False), (8, 8, True), (1, 1, True)],
)
def test_satisfaction_cutoff(mark, cutoff, satisfied):
    answer = satisfaction(with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], sat(mark)), cutoff=cutoff)
    assert (answer.responded, answer.mark, answer.satisfied, answer.informant) == (True, mark, satisfied, "parent")


def test_satisfaction_no_response():
    answer = satisfaction(with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], None))
    assert (answer.responded, answer.mark, answer.satisfied) == (False, None, None)
    with pytest.raises(ValueError, match="cut-off"):
        satisfaction(jeugdhulp(), cutoff=11)


def test_continue_without_help():
    r = with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], {"continue_without_help": {"code": "02", "informant": "youth"}})
    assert continue_without_help(r) == "02"
    assert continue_without_help(with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], None)) == "no_response"


# -- 3.3 ROM / RCI ---------------------------------------------------------------------------


def test_rci_value():
    assert reliable_change_index(20, 12, LOWER_BETTER) == pytest.approx(-4.0, abs=1e-9)
    assert reliable_change_index(12, 20, LOWER_BETTER) == pytest.approx(4.0, abs=1e-9)
    # SDQ example parameters (sd 5.8, r 0.80): -9 / (5.8 * sqrt(0.4)) = -9 / 3.66824 = -2.45349
    assert reliable_change_index(21, 12, load_rom_instruments()["SDQ"]) == pytest.approx(-2.4535, abs=1e-4)


@pytest.mark.parametrize(
    ("instrument", "pre", "post", "expected"),
    [
        (LOWER_BETTER, 20, 12, "improved"),  # RCI -4.0, lower is better
        (LOWER_BETTER, 12, 20, "deteriorated"),  # RCI +4.0
        (HIGHER_BETTER, 12, 20, "improved"),  # RCI +4.0, higher is better
        (HIGHER_BETTER, 20, 12, "deteriorated"),  # RCI -4.0
        (LOWER_BETTER, 20, 18, "unchanged"),  # RCI -1.0
        (HIGHER_BETTER, 20, 20, "unchanged"),  # RCI 0
    ],
)
def test_rci_both_directions_and_both_scales(instrument, pre, post, expected):
    assert classify_change(pre, post, instrument) == expected


@pytest.mark.parametrize(
    ("pre", "post", "lower_better", "higher_better"),
    [
        (20, 16.08, "unchanged", "unchanged"),  # RCI = -3.92 / 2 = -1.96 exactly: not beyond
        (16.08, 20, "unchanged", "unchanged"),  # +1.96
        (20, 16.06, "improved", "deteriorated"),  # -3.94 / 2 = -1.97
        (16.06, 20, "deteriorated", "improved"),  # +1.97
    ],
)
def test_rci_edge_at_1_96(pre, post, lower_better, higher_better):
    assert classify_change(pre, post, LOWER_BETTER) == lower_better
    assert classify_change(pre, post, HIGHER_BETTER) == higher_better


def test_rom_change_unknown_instrument():
    rom = Rom(instrument="SDQ", pre=21, post=12)
    assert rom_change(rom, load_rom_instruments()) == "improved"  # RCI -2.45, lower is better
    with pytest.raises(UnknownInstrument, match="'SDQ'") as info:
        rom_change(rom, {"ZRM": load_rom_instruments()["ZRM"]})
    assert info.value.instrument == "SDQ"
    with pytest.raises(UnknownInstrument):
        derive(jeugdhulp(), config=IndicatorConfig(rom_instruments={}))


@given(pre=st.integers(0, 40), post=st.integers(0, 40))
def test_rci_swapping_pre_and_post_swaps_the_outcome(pre, post):
    swap = {"improved": "deteriorated", "deteriorated": "improved", "unchanged": "unchanged"}
    for instrument in (LOWER_BETTER, HIGHER_BETTER):
        assert classify_change(post, pre, instrument) == swap[classify_change(pre, post, instrument)]


# -- 3.4 GAS ---------------------------------------------------------------------------------


def test_gas_t_score_hand_computed():
    # [1, 0], weights [1, 2]: 50 + 10 * 1 / sqrt(0.7 * 5 + 0.3 * 9) = 50 + 10 / sqrt(6.2)
    assert gas_t_score([1, 0], [1, 2]) == pytest.approx(54.0161, abs=1e-4)
    # [1, 0] unweighted: 50 + 10 / sqrt(0.7 * 2 + 0.3 * 4) = 50 + 10 / sqrt(2.6)
    assert gas_t_score([1, 0]) == pytest.approx(56.2017, abs=1e-4)
    # [-1, 0], weights [1, 2]: 50 - 10 / sqrt(6.2)
    assert gas_t_score([-1, 0], [1, 2]) == pytest.approx(45.9839, abs=1e-4)
    # [2, -1, 1], weights [1, 3, 2]: sum wx = 1; 0.7 * 14 + 0.3 * 36 = 20.6
    assert gas_t_score([2, -1, 1], [1, 3, 2]) == pytest.approx(52.2033, abs=1e-4)
    # one goal at +2: 50 + 10 * 2 / sqrt(0.7 + 0.3) = 70
    assert gas_t_score([2]) == 70.0
    assert gas_t_score([0, 0, 0]) == 50.0


def test_goals_met_at_and_below_50():
    assert goals_met([Goal(score=1), Goal(score=0, weight=2)]) is True  # 54.0161
    assert goals_met([Goal(score=0), Goal(score=0)]) is True  # exactly 50: met
    assert goals_met([Goal(score=1, weight=2), Goal(score=-2)]) is True  # sum wx = 0: exactly 50
    assert goals_met([Goal(score=-1), Goal(score=0, weight=2)]) is False  # 45.9839


def test_gas_rejects_bad_input():
    for scores, weights in (([], None), ([1], [1, 2]), ([1], [0])):
        with pytest.raises(ValueError):
            gas_t_score(scores, weights)


# -- JB / JR ---------------------------------------------------------------------------------


def test_threat_and_risk_change():
    assert [threat_change(8, 4), threat_change(5, 5), threat_change(3, 6)] == ["decreased", "same", "increased"]
    assert [risk_change(14, 9), risk_change(0, 0), risk_change(2, 3)] == ["lower", "equal", "higher"]


def test_client_experience():
    jb = record(EXAMPLE_RECORDS["jeugdbescherming"])
    answer = client_experience(jb)
    assert (answer.mark, answer.satisfied, answer.informant) == (7, True, "parent")
    assert client_experience(jb, cutoff=8).satisfied is False


# -- linkage ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),  # leap year
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2025, 3, 30), 6, date(2025, 9, 30)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 6, 20), 6, date(2025, 12, 20)),
        (date(2025, 6, 20), 18, date(2026, 12, 20)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
        (date(2025, 1, 15), -1, date(2024, 12, 15)),
    ],
)
def test_add_months_calendar_with_end_of_month_clamping(day, months, expected):
    assert add_months(day, months) == expected


END = date(2025, 8, 31)  # window: 2025-08-31 .. 2026-02-28 (both included)
LATER = date(2026, 6, 1)


def test_window_bounds():
    assert follow_up_window(END, 6) == (date(2025, 8, 31), date(2026, 2, 28))
    with pytest.raises(ValueError):
        follow_up_window(END, 0)


@pytest.mark.parametrize(
    ("starts", "as_of", "expected"),
    [
        ([date(2026, 2, 28)], LATER, "new_start"),  # exactly at end + window: counts
        ([date(2026, 3, 1)], LATER, "no_new_start"),  # one day after the window
        ([date(2025, 8, 31)], LATER, "new_start"),  # on the end date: a hand-over, counts
        ([date(2025, 8, 30)], LATER, "no_new_start"),  # before the end: parallel care, not new
        ([date(2025, 9, 1)], date(2025, 9, 1), "new_start"),  # known before the window closes
        ([], date(2026, 2, 28), "pending"),  # last day of the window: not yet passed
        ([], date(2026, 3, 1), "no_new_start"),  # the day after: passed
        ([], date(2025, 10, 1), "pending"),
        ([date(2025, 10, 1)], date(2025, 9, 15), "pending"),  # start after as_of: not yet known
        ([date(2024, 1, 1), date(2026, 5, 1), date(2025, 12, 24)], LATER, "new_start"),
    ],
)
def test_new_start_window_edges(starts, as_of, expected):
    assert new_start_status(END, starts, as_of=as_of, window_months=6) == expected


def test_new_start_late_record_changes_the_outcome():
    assert new_start_status(END, [], as_of=date(2026, 3, 10)) == "no_new_start"
    late = [date(2025, 10, 1)]  # submitted in March 2026, started in the window
    assert new_start_status(END, late, as_of=date(2026, 3, 10)) == "new_start"


def test_new_start_window_parameter():
    start = [date(2026, 5, 31)]
    assert new_start_status(END, start, as_of=LATER, window_months=6) == "no_new_start"
    assert new_start_status(END, start, as_of=LATER, window_months=9) == "new_start"  # to 2026-05-31


@pytest.mark.parametrize(
    ("starts", "end", "as_of", "expected"),
    [
        ([date(2023, 5, 1)], END, LATER, "repeat"),  # an earlier measure
        ([date(2023, 5, 1)], None, date(2025, 1, 1), "repeat"),  # earlier: known even while running
        ([], None, LATER, "pending"),
        ([date(2026, 2, 28)], END, LATER, "repeat"),  # new one at end + window
        ([date(2026, 3, 1)], END, LATER, "no_repeat"),
        ([date(2024, 6, 1)], END, LATER, "no_repeat"),  # started on the same day: not earlier
        ([], END, date(2026, 2, 28), "pending"),
        ([], END, date(2026, 3, 1), "no_repeat"),
    ],
)
def test_repeat_status(starts, end, as_of, expected):
    assert repeat_status(date(2024, 6, 1), end, starts, as_of=as_of) == expected


def test_repeat_status_lookback():
    earlier = [date(2022, 1, 1)]
    assert repeat_status(date(2024, 6, 1), None, earlier, as_of=TODAY, lookback_months=24) == "pending"
    assert repeat_status(date(2024, 6, 1), None, earlier, as_of=TODAY, lookback_months=30) == "repeat"


# -- derive ----------------------------------------------------------------------------------


def test_derive_api_example():
    # end reason 01; mark 8 by the youth; 3.1 code 04 by a parent; SDQ 21 -> 12 is RCI -2.45:
    # improved; goals [1, 0] with weights [1, 2] give T 54.0161: met.
    assert derive(jeugdhulp()) == [
        IndicatorValue("1", "01"),
        IndicatorValue("2", "mark:8"),
        IndicatorValue("2.informant", "youth"),
        IndicatorValue("3.1", "04"),
        IndicatorValue("3.1.informant", "parent"),
        IndicatorValue("3.2", "pending"),
        IndicatorValue("3.3", "improved"),
        IndicatorValue("3.4", "met"),
    ]


def test_derive_without_answers():
    r = with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], None, end_reason="32")
    assert derive(r) == [
        IndicatorValue("1", "03"),
        IndicatorValue("2", "no_response"),
        IndicatorValue("3.1", "no_response"),
        IndicatorValue("3.2", "pending"),
    ]


@given(
    scores=st.lists(st.integers(-2, 2), min_size=1, max_size=5),
    weights=st.lists(st.integers(1, 4), min_size=5, max_size=5),
    rho=st.sampled_from([0.0, 0.3, 0.6]),
)
def test_goals_met_iff_weighted_sum_not_negative(scores, weights, rho):
    # the denominator is positive, so rho changes T but never met / not met
    goals = [Goal(score=s, weight=w) for s, w in zip(scores, weights, strict=False)]
    weighted = sum(g.score * g.weight for g in goals)
    assert goals_met(goals, rho=rho) is (weighted >= 0)


def test_derive_jeugdbescherming():
    assert derive(record(EXAMPLE_RECORDS["jeugdbescherming"])) == [
        IndicatorValue("jbjr.end_reason", "02"),
        IndicatorValue("jbjr.course", "scale_down"),
        IndicatorValue("jbjr.experience", "mark:7"),
        IndicatorValue("jbjr.experience.informant", "parent"),
        IndicatorValue("jbjr.repeat", "pending"),
        IndicatorValue("jb.threat", "decreased"),
        IndicatorValue("jb.acceptance.goals", "yes"),
        IndicatorValue("jb.acceptance.help", "partly"),
        IndicatorValue("jb.acceptance.role", "no"),
    ]
    bare = record(EXAMPLE_RECORDS["jeugdbescherming"], continuation=None, outcomes=None)
    assert derive(bare) == [
        IndicatorValue("jbjr.end_reason", "02"),
        IndicatorValue("jbjr.experience", "no_response"),
        IndicatorValue("jbjr.repeat", "pending"),
        IndicatorValue("jb.acceptance.goals", "no_response"),
        IndicatorValue("jb.acceptance.help", "no_response"),
        IndicatorValue("jb.acceptance.role", "no_response"),
    ]


def test_derive_jeugdreclassering():
    assert derive(record(EXAMPLE_RECORDS["jeugdreclassering"])) == [
        IndicatorValue("jbjr.end_reason", "21"),
        IndicatorValue("jbjr.course", "continuation"),
        IndicatorValue("jbjr.experience", "mark:6"),
        IndicatorValue("jbjr.experience.informant", "youth"),
        IndicatorValue("jbjr.repeat", "pending"),
        IndicatorValue("jr.risk", "lower"),  # 14 -> 9
    ]
    ongoing = record(EXAMPLE_RECORDS["jeugdreclassering"], end_date=None, end_reason=None, continuation=None)
    assert derive(ongoing) == []


@given(
    mark=st.one_of(st.none(), st.integers(1, 10)),
    code=st.one_of(st.none(), st.sampled_from(["01", "02", "03", "04"])),
    goals=st.one_of(st.none(), st.lists(st.integers(-2, 2), min_size=1, max_size=5)),
    post=st.integers(0, 40),
    end=st.sampled_from(["01", "02", "03", "04", "05", "31", "32", "33", "34", "35"]),
)
def test_every_derived_value_is_registered(mark, code, goals, post, end):
    outcomes = {"rom": {"instrument": "SDQ", "pre": 20, "post": post}}
    if mark is not None:
        outcomes["satisfaction"] = {"mark": mark, "informant": "youth"}
    if code is not None:
        outcomes["continue_without_help"] = {"code": code, "informant": "parent"}
    if goals is not None:
        outcomes["goals"] = [{"score": g} for g in goals]
    values = derive(with_outcomes(EXAMPLE_RECORDS["jeugdhulp"], outcomes, end_reason=end))
    for v in values:
        assert v.value in INDICATOR_VALUES[v.indicator]
    assert [v.indicator for v in values if v.indicator in ("1", "2", "3.1", "3.2")] == ["1", "2", "3.1", "3.2"]
