"""The counts disclosure control protects per cell, taken straight from the stored values
(``Indicator.protected_counts``), are the counts the report's figures are computed from."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from app.reports.registry import AT_OR_ABOVE_CUTOFF, load_registry

REGISTRY = load_registry()
# every value an indicator names, the two special ones, every mark, and one nobody names
NAMED = {v for i in REGISTRY.indicators for v in i.base or ()} | {
    v for i in REGISTRY.indicators if i.numerator != AT_OR_ABOVE_CUTOFF for v in i.numerator}
VALUES = sorted(
    NAMED
    | {"no_response", "pending", "something_else"}
    | {f"mark:{m}" for m in range(1, 11)}
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(
    st.sampled_from(REGISTRY.indicators),
    st.dictionaries(st.sampled_from(VALUES), st.integers(0, 40), max_size=12),
    st.integers(1, 10),
)
def test_protected_counts_are_the_figures_counts(indicator, counts, cutoff):
    counts = Counter(counts)
    figures = indicator.figures(counts, cutoff=cutoff)
    numerator = figures.numerator
    if numerator is None:  # a mean: the share at or above the cut-off is what is protected
        numerator = sum(n for v, n in counts.items() if v.startswith("mark:") and int(v[5:]) >= cutoff)
    assert indicator.protected_counts(counts, cutoff=cutoff) == (figures.denominator, numerator)


def test_every_kind_of_indicator_is_covered():
    assert {i.kind for i in REGISTRY.indicators} == {"share", "mean_mark"}
