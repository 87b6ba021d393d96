"""Confidence intervals against hand-computed values."""

from __future__ import annotations

import math

import pytest

from app.reports.statistics import mean_of_marks, wilson


def test_wilson_against_hand_computation() -> None:
    # 6 of 57: p = 0.105263; z = 1.96 -> by hand (Wilson 1927): centre = (p + z²/2n)/(1 + z²/n)
    z = 1.959963984540054
    n, k = 57, 6
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    interval = wilson(k, n)
    assert interval is not None
    assert interval.low == pytest.approx(centre - half)
    assert interval.high == pytest.approx(centre + half)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0491, 0.2112)


def test_wilson_edges() -> None:
    assert wilson(0, 0) is None
    zero = wilson(0, 10)
    assert zero is not None and zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    full = wilson(10, 10)
    assert full is not None and full.high == pytest.approx(1.0) and full.low == pytest.approx(0.7225, abs=1e-4)


def test_mean_of_marks_t_interval() -> None:
    # marks 6, 7, 8, 8, 9: mean 7.6, s = sqrt(((1.6²)+(0.6²)+2*(0.4²)+(1.4²))/4) = sqrt(1.3) ;
    # t(0.975, 4) = 2.776445 -> half = 2.776445 * sqrt(1.3/5) = 1.41571
    summary = mean_of_marks({6: 1, 7: 1, 8: 2, 9: 1})
    assert summary is not None
    assert summary.mean == pytest.approx(7.6)
    assert summary.interval is not None
    assert summary.interval.low == pytest.approx(7.6 - 1.41571, abs=1e-4)
    assert summary.interval.high == pytest.approx(7.6 + 1.41571, abs=1e-4)


def test_mean_of_one_mark_has_no_interval() -> None:
    summary = mean_of_marks({8: 1})
    assert summary is not None and summary.interval is None
    assert mean_of_marks({}) is None


def test_funnel_limits_against_hand_computation() -> None:
    from app.reports.statistics import funnel_limits

    # p = 0.2, n = 100: sd = sqrt(0.2 * 0.8 / 100) = 0.04; 1.96 * 0.04 = 0.0784; 3.09 * 0.04 = 0.1236
    limits = funnel_limits(0.2, 100)
    assert limits is not None
    assert (round(limits.low_95, 4), round(limits.high_95, 4)) == (0.1216, 0.2784)
    assert (round(limits.low_998, 4), round(limits.high_998, 4)) == (0.0764, 0.3236)
    # n = 25: sd = 0.08; the lower 99.8% limit 0.2 - 0.2472 is below 0 and clipped to 0
    small = funnel_limits(0.2, 25)
    assert small is not None
    assert small.low_998 == 0.0 and small.high_998 == pytest.approx(0.4472, abs=1e-4)
    assert small.low_95 == pytest.approx(0.0432, abs=1e-4) and small.high_95 == pytest.approx(0.3568, abs=1e-4)
    # the funnel narrows as n grows, and is clipped at 1 near a target of 1
    wider = funnel_limits(0.2, 400)
    assert wider is not None and wider.high_95 < limits.high_95
    near_one = funnel_limits(0.97, 10)
    assert near_one is not None and near_one.high_95 == 1.0 and near_one.high_998 == 1.0
    assert funnel_limits(0.2, 0) is None and funnel_limits(1.5, 10) is None


def test_funnel_position_in_words_of_the_limits() -> None:
    from app.reports.statistics import funnel_position

    assert funnel_position(0.20, 100, 0.2) == "inside"
    assert funnel_position(0.30, 100, 0.2) == "above_95"  # 0.2784 < 0.30 <= 0.3236
    assert funnel_position(0.35, 100, 0.2) == "above_998"
    assert funnel_position(0.10, 100, 0.2) == "below_95"  # 0.0764 <= 0.10 < 0.1216
    assert funnel_position(0.05, 100, 0.2) == "below_998"
    assert funnel_position(0.35, 25, 0.2) == "inside"  # the same rate over few is within the funnel
    assert funnel_position(0.2, 0, 0.2) is None
