"""The Gaussian secondary suppression follows only the primary cells at risk, with the same result.

``protect`` asks :func:`derivable` which primary cells the published cells would give away and
hands those to :func:`secondary_suppressed` (``at_risk``), so that the elimination reduces only
them. The cells published are a subset of the candidates, so any other primary cell stays outside
their span whatever is chosen: the cells withheld must be exactly those withheld when every
primary cell is followed. Checked here over random families and random patterns.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.reports.disclosure import SuppressionPolicy, build_linked_tables, primary_suppressed
from app.reports.disclosure.suppression import cell_thresholds, derivable, inner_vectors, secondary_suppressed
from tests.test_disclosure import PROPERTY_SETTINGS, families


@settings(max_examples=60, **PROPERTY_SETTINGS)
@given(families(), st.randoms(use_true_random=False))
def test_following_only_the_primary_cells_at_risk_withholds_the_same_cells(family, rnd) -> None:
    base, dimensions, regions, thresholds = family
    linked = build_linked_tables(base, dimensions, regions=regions)
    primary = primary_suppressed(linked, cell_thresholds(linked, SuppressionPolicy(), thresholds))
    positive = [k for k in linked.keys if linked.cells[k].denominator > 0 and k not in primary]
    also = [k for k in positive if rnd.random() < 0.2]  # what earlier steps withheld
    vectors = inner_vectors(linked)
    index = {k: i for i, k in enumerate(linked.keys)}
    published = [index[k] for k in positive if k not in also]
    at_risk = [linked.keys[i] for i in derivable(vectors, published, sorted(index[k] for k in primary))]
    followed_all = secondary_suppressed(linked, primary, also, vectors)
    followed_at_risk = secondary_suppressed(linked, primary, also, vectors, at_risk=at_risk)
    assert followed_at_risk == followed_all
    if not at_risk:
        assert not followed_all  # nothing at risk: nothing to withhold


@settings(max_examples=60, **PROPERTY_SETTINGS)
@given(families(), st.randoms(use_true_random=False))
def test_cells_the_equations_give_are_not_reduced_and_the_answer_is_the_same(family, rnd) -> None:
    """``derivable`` and the elimination skip the cells an equation gives from cells already in
    the published span (the totals of a region family, half of its published cells): the same
    cells at risk and the same cells withheld as with no equations at all."""
    base, dimensions, regions, thresholds = family
    linked = build_linked_tables(base, dimensions, regions=regions)
    primary = primary_suppressed(linked, cell_thresholds(linked, SuppressionPolicy(), thresholds))
    positive = [k for k in linked.keys if linked.cells[k].denominator > 0 and k not in primary]
    also = [k for k in positive if rnd.random() < 0.2]
    vectors = inner_vectors(linked)
    index = {k: i for i, k in enumerate(linked.keys)}
    equations = [(index[e.total], [index[p] for p in e.parts]) for e in linked.equations]
    published = [index[k] for k in positive if k not in also]
    targets = sorted(index[k] for k in primary)
    assert derivable(vectors, published, targets, equations) == derivable(vectors, published, targets)
    assert (secondary_suppressed(linked, primary, also, vectors, equations=equations)
            == secondary_suppressed(linked, primary, also, vectors, equations=[]))
