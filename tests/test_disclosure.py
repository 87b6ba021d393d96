"""Disclosure control: primary and secondary suppression, release check, shown values.

Every guarantee is verified by means written here, independently of the module: brute-force
enumeration for tiny tables, a rank test (numpy) for linear derivability, and a linear
programme (scipy) for feasible intervals.
"""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from app.reports.disclosure import (
    TOTAL,
    CellCounts,
    CellKey,
    Equation,
    LinkedTables,
    SuppressionPolicy,
    build_linked_tables,
    protect,
    protect_shared_denominator,
    release_check,
)
from app.reports.disclosure.tables import sort_key

SMALL = 3  # the band rule's small count used throughout (the policy default)


# --------------------------------------------------------------------------------------------
# independent helpers
# --------------------------------------------------------------------------------------------


def equation_rows(keys, equations):
    """Rows of the constraint matrix: total - sum(parts) = 0."""
    index = {k: i for i, k in enumerate(keys)}
    rows = []
    for total, parts in equations:
        row = np.zeros(len(keys))
        row[index[total]] = 1
        for p in parts:
            row[index[p]] -= 1
        rows.append(row)
    return np.array(rows).reshape(-1, len(keys))


def derivable_by_equations(keys, equations, published, target):
    """Is ``target`` a linear combination of published cells, given the equations?

    ``e_target`` lies in the row space of [equations; unit rows of published cells] exactly
    when adding it does not raise the rank."""
    index = {k: i for i, k in enumerate(keys)}
    known = [equation_rows(keys, equations)]
    for k in published:
        row = np.zeros((1, len(keys)))
        row[0, index[k]] = 1
        known.append(row)
    base = np.vstack(known)
    unit = np.zeros((1, len(keys)))
    unit[0, index[target]] = 1
    return np.linalg.matrix_rank(np.vstack([base, unit])) == np.linalg.matrix_rank(base)


def in_period(quarter, period):
    year, q = quarter.split("-Q")
    half = "H1" if int(q) <= 2 else "H2"
    return period in (quarter, f"{year}-{half}", year)


def base_cells_of(cell, base, dimensions, regions):
    """The non-empty base cells a derived cell adds up (from the key's meaning alone)."""
    members = set(regions.get(cell.unit, [cell.unit]))
    out = set()
    for key, (d, _) in base.items():
        unit, quarter, *values = key
        if d == 0 or unit not in members or not in_period(quarter, cell.period):
            continue
        if cell.dimension != TOTAL and values[dimensions.index(cell.dimension)] != cell.category:
            continue
        out.add(key)
    return out


def derivable_by_composition(vectors, published, target):
    """Rank test over the base cells: is the target's vector in the span of published ones?"""
    rows = [vectors[k] for k in published if vectors[k].any()]
    if not rows:
        return False
    base = np.array(rows)
    return np.linalg.matrix_rank(np.vstack([base, vectors[target]])) == np.linalg.matrix_rank(base)


def band_interval(d, n):
    if n < SMALL:
        return 0, SMALL - 1
    if d - n < SMALL:
        return d - SMALL + 1, d
    return None


def reader_interval(cells, equations, suppressed, target, quantity):
    """Feasible interval of a withheld count, by a linear programme written for the test.

    denominator: the reader knows every published count exactly, the band of every banded
    numerator, that suppressed cells are not empty, non-negativity and n <= d.
    numerator: the reader also knows every denominator.
    Returns (lower, upper) rounded inwards to integers; upper None when unbounded.
    """
    keys = sorted(cells)
    index = {k: i for i, k in enumerate(keys)}
    size = len(keys)
    bounds = []
    for k in keys:  # denominators
        d = cells[k][0]
        if quantity == "denominator" and k in suppressed:
            bounds.append((1, None))
        else:
            bounds.append((d, d))
    for k in keys:  # numerators
        d, n = cells[k]
        band = band_interval(d, n) if d > 0 else None
        if k in suppressed:
            bounds.append((0, None) if quantity == "denominator" else (0, d))
        elif band is not None:
            bounds.append(band)
        else:
            bounds.append((n, n))
    rows, rhs = [], []
    for total, parts in equations:
        for offset in (0, size):
            row = np.zeros(2 * size)
            row[offset + index[total]] = 1
            for p in parts:
                row[offset + index[p]] -= 1
            rows.append(row)
            rhs.append(0)
    a_ub = np.zeros((size, 2 * size))
    for i in range(size):
        a_ub[i, size + i] = 1
        a_ub[i, i] = -1
    column = index[target] + (0 if quantity == "denominator" else size)
    out = []
    for sign in (1, -1):
        c = np.zeros(2 * size)
        c[column] = sign
        result = linprog(c, A_ub=a_ub, b_ub=np.zeros(size), A_eq=np.array(rows), b_eq=np.array(rhs),
                         bounds=bounds, method="highs")
        if result.status == 3:
            out.append(None)
            continue
        assert result.status == 0, result.message
        out.append(sign * result.fun)
    lower = math.ceil(out[0] - 1e-6)
    upper = None if out[1] is None else math.floor(out[1] + 1e-6)
    return lower, upper


def enumerate_row(total, published, suppressed_upper):
    """All integer assignments to the withheld cells of one row that add up to the total."""
    rest = total - sum(published)
    return [
        combo
        for combo in itertools.product(*(range(u + 1) for u in suppressed_upper))
        if sum(combo) == rest
    ]


def statuses(result):
    return {k: c.status for k, c in result.cells.items()}


# --------------------------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------------------------


def test_minimum_cell_size_below_ten_is_refused():
    with pytest.raises(ValueError, match="at least 10"):
        SuppressionPolicy(minimum_cell_size=9)
    assert SuppressionPolicy(minimum_cell_size=10).minimum_cell_size == 10


@pytest.mark.parametrize("field, value", [("small_count", -1), ("rounding_base", -5),
                                          ("protection_interval", 0), ("numerator_protection", 0)])
def test_nonsense_policy_values_are_refused(field, value):
    with pytest.raises(ValueError):
        SuppressionPolicy(**{field: value})


def test_municipality_threshold_below_the_minimum_is_refused():
    linked = LinkedTables({("GM1", "T"): (40, 4), ("GM1", "A"): (20, 2), ("GM1", "B"): (20, 2)},
                          [Equation(("GM1", "T"), (("GM1", "A"), ("GM1", "B")))])
    with pytest.raises(ValueError, match="only raise"):
        protect(linked, SuppressionPolicy(minimum_cell_size=12), {"GM1": 11})


# --------------------------------------------------------------------------------------------
# one table: the cell of 9
# --------------------------------------------------------------------------------------------


def one_row(counts):
    cells = {("GM1", "T"): (sum(d for d, _ in counts.values()), sum(n for _, n in counts.values()))}
    cells.update({("GM1", name): value for name, value in counts.items()})
    parts = tuple(("GM1", name) for name in counts)
    return LinkedTables(cells, [Equation(("GM1", "T"), parts)])


def test_a_cell_of_nine_is_withheld_and_cannot_be_recomputed():
    counts = {"A": (9, 2), "B": (15, 4), "C": (12, 5), "D": (14, 6), "E": (30, 11)}
    linked = one_row(counts)
    result = protect(linked, SuppressionPolicy(), {})
    a = result.cells[("GM1", "A")]
    assert a.status == "primary"
    assert (a.denominator, a.numerator, a.share, a.band) == (None, None, None, None)
    withheld = [n for n in counts if result.cells[("GM1", n)].suppressed]
    assert len(withheld) >= 2 and not result.cells[("GM1", "T")].suppressed

    # brute force over every non-negative integer assignment (each count bounded by the total)
    total = linked.cells[("GM1", "T")].denominator
    published = [counts[n][0] for n in counts if n not in withheld]
    solutions = enumerate_row(total, published, [total] * len(withheld))
    values_of_a = {s[withheld.index("A")] for s in solutions}
    assert len(values_of_a) > 1
    # the documented guarantee: the interval is at least the threshold wide
    assert max(values_of_a) - min(values_of_a) >= 10

    # a municipality knows the denominators: the numerator of A is still not determined
    n_total = linked.cells[("GM1", "T")].numerator
    n_published = [counts[n][1] for n in counts if n not in withheld]
    n_solutions = enumerate_row(n_total, n_published, [counts[n][0] for n in withheld])
    assert len({s[withheld.index("A")] for s in n_solutions}) > 1


def test_two_small_cells_together_are_still_too_small():
    # A and B are both primary; withheld together they are linearly safe, but A + B = 7 pins
    # each of them to a narrow range. The release check must notice, and protect() widens it.
    counts = {"A": (3, 1), "B": (4, 2), "C": (23, 7), "D": (40, 8)}
    linked = one_row(counts)
    policy = SuppressionPolicy()
    pair = {("GM1", "A"), ("GM1", "B")}
    check = release_check(linked, pair, policy, {})
    assert not check.ok
    assert any(f.cell in pair and f.quantity == "denominator" for f in check.failures)

    result = protect(linked, policy, {})
    assert result.suppressed > pair
    # the pair is linearly safe, so the extra cells come from the interval requirement
    assert not result.added_by_gauss
    assert set(result.added_by_perturbation) | set(result.added_by_release_check)
    assert release_check(linked, result.suppressed, policy, {}).ok
    withheld = sorted(n for n in counts if ("GM1", n) in result.suppressed)
    total = linked.cells[("GM1", "T")].denominator
    published = [counts[n][0] for n in counts if n not in withheld]
    solutions = [s for s in enumerate_row(total, published, [total] * len(withheld)) if min(s) >= 1]
    for name in ("A", "B"):
        values = {s[withheld.index(name)] for s in solutions}
        assert max(values) - min(values) >= 10


def test_release_check_rejects_a_published_primary_cell():
    linked = one_row({"A": (5, 1), "B": (30, 4), "C": (30, 9)})
    check = release_check(linked, set(), SuppressionPolicy(), {})
    assert not check.ok and check.published_primary == (("GM1", "A"),)


def test_release_check_rejects_a_lone_withheld_cell():
    linked = one_row({"A": (5, 1), "B": (30, 4), "C": (30, 9)})
    check = release_check(linked, {("GM1", "A")}, SuppressionPolicy(), {})
    assert not check.ok
    (finding,) = [f for f in check.failures if f.quantity == "denominator"]
    assert (finding.lower, finding.upper) == (5, 5)


def test_a_zero_total_pins_nothing_and_empty_cells_are_published():
    linked = one_row({"A": (0, 0), "B": (30, 4), "C": (30, 9)})
    result = protect(linked, SuppressionPolicy(), {})
    assert not result.suppressed
    assert result.cells[("GM1", "A")].denominator == 0
    assert result.cells[("GM1", "A")].share is None


def test_a_numerator_pinned_by_bounds_is_caught():
    # B and C withheld with A; the published numerators leave A + B + C with 0 drop-outs, so a
    # reader who knows the denominators learns that nobody in A dropped out.
    counts = {"A": (6, 0), "B": (12, 0), "C": (11, 0), "D": (40, 9), "E": (35, 8)}
    linked = one_row(counts)
    pattern = {("GM1", "A"), ("GM1", "B"), ("GM1", "C")}
    check = release_check(linked, pattern, SuppressionPolicy(), {})
    assert any(f.cell == ("GM1", "A") and f.quantity == "numerator" for f in check.failures)
    result = protect(linked, SuppressionPolicy(), {})
    cells = {k: tuple(v) for k, v in linked.cells.items()}
    lower, upper = reader_interval(cells, linked.equations, result.suppressed, ("GM1", "A"), "numerator")
    assert upper - lower >= 1


# --------------------------------------------------------------------------------------------
# hierarchies: quarters -> half-years -> year, municipalities -> region
# --------------------------------------------------------------------------------------------


def hierarchy_base():
    rng = random.Random(7)
    base = {}
    for m in ("GM1", "GM2", "GM3"):
        for q in range(1, 5):
            for provider in ("P1", "P2", "P3"):
                d = rng.randint(25, 60)
                base[(m, f"2025-Q{q}", provider)] = (d, rng.randint(5, d - 5))
    base[("GM1", "2025-Q1", "P1")] = (4, 1)  # the one small cell
    return base


REGIONS = {"R": ["GM1", "GM2", "GM3"]}


def test_a_small_quarter_cell_cannot_be_derived_from_other_periods_or_the_region():
    base = hierarchy_base()
    linked = build_linked_tables(base, ["provider"], regions=REGIONS)
    result = protect(linked, SuppressionPolicy(), {})
    target = CellKey("GM1", "2025-Q1", "provider", "P1")
    assert result.cells[target].status == "primary"

    def withheld(*keys):
        return any(result.cells[k].suppressed for k in keys)

    line = [CellKey("GM1", p, "provider", "P1") for p in ("2025-Q2", "2025-Q3", "2025-Q4", "2025")]
    assert withheld(*line), "year minus the other quarters"
    assert withheld(CellKey("GM1", "2025-H1", "provider", "P1"), CellKey("GM1", "2025-Q2", "provider", "P1"))
    assert withheld(
        CellKey("R", "2025-Q1", "provider", "P1"),
        CellKey("GM2", "2025-Q1", "provider", "P1"),
        CellKey("GM3", "2025-Q1", "provider", "P1"),
    ), "region minus the other municipalities"
    assert withheld(
        CellKey("GM1", "2025-Q1"), CellKey("GM1", "2025-Q1", "provider", "P2"),
        CellKey("GM1", "2025-Q1", "provider", "P3"),
    ), "total minus the other providers"

    published = [k for k, c in result.cells.items() if not c.suppressed]
    keys = sorted(linked.cells)
    assert not derivable_by_equations(keys, linked.equations, published, target)
    vectors = {}
    columns = sorted(base)
    for k in keys:
        vector = np.zeros(len(columns))
        for b in base_cells_of(k, base, ["provider"], REGIONS):
            vector[columns.index(b)] = 1
        vectors[k] = vector
    assert not derivable_by_composition(vectors, published, target)

    cells = {k: tuple(v) for k, v in linked.cells.items()}
    lower, upper = reader_interval(cells, linked.equations, result.suppressed, target, "denominator")
    assert upper is None or upper - lower >= 10
    lower, upper = reader_interval(cells, linked.equations, result.suppressed, target, "numerator")
    assert upper - lower >= 1


def test_a_small_municipality_cannot_be_derived_from_its_region():
    base = hierarchy_base()
    base[("GM1", "2025-Q1", "P1")] = (30, 6)
    for q in range(1, 5):  # GM3 is tiny: all its cells are small
        for provider in ("P1", "P2", "P3"):
            base[("GM3", f"2025-Q{q}", provider)] = (1, 0)
    linked = build_linked_tables(base, ["provider"], regions=REGIONS)
    result = protect(linked, SuppressionPolicy(), {})
    small = CellKey("GM3", "2025-Q2", TOTAL, TOTAL)  # 3 in a quarter: withheld
    assert result.cells[small].status == "primary"
    region_minus_others = [CellKey(u, "2025-Q2") for u in ("R", "GM1", "GM2")]
    assert any(result.cells[k].suppressed for k in region_minus_others)
    published = [k for k, c in result.cells.items() if not c.suppressed]
    assert not derivable_by_equations(sorted(linked.cells), linked.equations, published, small)


def test_region_threshold_is_the_strictest_of_its_members():
    base = {}
    for m in ("GM1", "GM2"):
        for q in range(1, 5):
            base[(m, f"2025-Q{q}", "P1")] = (8, 2)
            base[(m, f"2025-Q{q}", "P2")] = (30, 6)
    linked = build_linked_tables(base, ["provider"], regions={"R": ["GM1", "GM2"]})
    result = protect(linked, SuppressionPolicy(), {"GM2": 20})
    region_q1_p1 = CellKey("R", "2025-Q1", "provider", "P1")  # 16: below 20, above 10
    assert result.cells[region_q1_p1].threshold == 20
    assert result.cells[region_q1_p1].status == "primary"
    gm1_h1_p1 = CellKey("GM1", "2025-H1", "provider", "P1")  # 16 in GM1 (threshold 10)
    assert result.cells[gm1_h1_p1].threshold == 10
    assert CellKey("GM1", "2025-H1", "provider", "P1") not in result.primary


def test_structural_coincidence_between_breakdowns_is_caught():
    # provider P9 is the only one offering hulpvorm 13 and offers nothing else, so the cells
    # "provider P9" and "hulpvorm 13" are the same sum: withholding one alone protects nothing.
    base = {}
    for q in range(1, 5):
        base[("GM1", f"2025-Q{q}", "P1", "02")] = (40, 8)
        base[("GM1", f"2025-Q{q}", "P2", "02")] = (35, 5)
        base[("GM1", f"2025-Q{q}", "P2", "11")] = (25, 4)
        base[("GM1", f"2025-Q{q}", "P9", "13")] = (3 if q == 1 else 20, 1)
    linked = build_linked_tables(base, ["provider", "hulpvorm"])
    result = protect(linked, SuppressionPolicy(), {})
    assert result.cells[CellKey("GM1", "2025-Q1", "provider", "P9")].status == "primary"
    assert result.cells[CellKey("GM1", "2025-Q1", "hulpvorm", "13")].suppressed


def test_a_provider_mirror_family_uses_each_municipality_threshold():
    # unit = the provider; the municipality is a breakdown dimension
    base = {}
    for q in range(1, 5):
        base[("12345678", f"2025-Q{q}", "GM1")] = (15, 3)
        base[("12345678", f"2025-Q{q}", "GM2")] = (15, 4)
        base[("12345678", f"2025-Q{q}", "GM3")] = (40, 9)
    linked = build_linked_tables(base, ["municipality"], municipality_dimension="municipality")
    result = protect(linked, SuppressionPolicy(), {"GM2": 20})
    gm1 = result.cells[CellKey("12345678", "2025-Q1", "municipality", "GM1")]
    assert gm1.threshold == 10 and gm1.status != "primary"
    assert result.cells[CellKey("12345678", "2025-Q1", "municipality", "GM2")].status == "primary"
    assert result.cells[CellKey("12345678", "2025-Q1")].threshold == 20
    published = [k for k, c in result.cells.items() if not c.suppressed]
    for target in result.primary:
        assert not derivable_by_equations(sorted(linked.cells), linked.equations, published, target)


# --------------------------------------------------------------------------------------------
# shown values
# --------------------------------------------------------------------------------------------


def test_bands_rounding_and_shares():
    counts = {"A": (40, 1), "B": (38, 37), "C": (57, 6), "D": (63, 20)}
    linked = one_row(counts)
    plain = protect(linked, SuppressionPolicy(protect_bands=False), {})
    a, b, c = (plain.cells[("GM1", n)] for n in "ABC")
    assert a.band.kind == "low" and a.numerator is None and a.share is None
    assert a.band.numerator_label == "< 3"
    assert b.band.kind == "high" and b.numerator is None
    assert (c.denominator, c.numerator, c.share, c.band) == (57, 6, 10.5, None)

    rounded = protect(linked, SuppressionPolicy(rounding_base=5, protect_bands=False), {})
    c = rounded.cells[("GM1", "C")]
    assert (c.denominator, c.numerator, c.share) == (55, 5, 10.5)
    assert all(x.denominator % 5 == 0 for x in rounded.cells.values() if not x.suppressed)
    from_rounded = protect(linked, SuppressionPolicy(rounding_base=5, share_from_rounded_counts=True,
                                                    protect_bands=False), {})
    assert from_rounded.cells[("GM1", "C")].share == round(100 * 5 / 55, 1)

    # every band statement is true of the true counts
    for policy in (SuppressionPolicy(protect_bands=False), SuppressionPolicy(rounding_base=5, protect_bands=False)):
        for key, cell in protect(linked, policy, {}).cells.items():
            if cell.band is None:
                continue
            d, n = linked.cells[key]
            bound = float(cell.band.share_label.split()[1].rstrip("%"))
            if cell.band.kind == "low":
                assert 100 * n / d <= bound
            else:
                assert 100 * n / d >= bound
                assert n >= int(cell.band.numerator_label.split()[1])


def test_a_band_cannot_be_undone_by_subtraction():
    # A shows "< 3"; with every other numerator exact, total minus the rest would give A's 1.
    counts = {"A": (40, 1), "C": (57, 6), "D": (63, 20), "E": (44, 9)}
    linked = one_row(counts)
    unprotected = protect(linked, SuppressionPolicy(protect_bands=False), {})
    assert not unprotected.suppressed
    result = protect(linked, SuppressionPolicy(), {})
    assert result.suppressed
    cells = {k: tuple(v) for k, v in linked.cells.items()}
    lower, upper = reader_interval(cells, linked.equations, result.suppressed, ("GM1", "A"), "numerator")
    assert upper - lower >= 1


# --------------------------------------------------------------------------------------------
# several indicators with one denominator
# --------------------------------------------------------------------------------------------


def test_indicators_sharing_a_denominator_share_one_pattern():
    rng = random.Random(3)
    dropout, no_new_start = {}, {}
    for m in ("GM1", "GM2"):
        for q in range(1, 5):
            for provider in ("P1", "P2", "P3", "P4"):
                d = rng.choice([2, 6, 12, 25, 40])
                dropout[(m, f"2025-Q{q}", provider)] = (d, rng.randint(0, d))
                no_new_start[(m, f"2025-Q{q}", provider)] = (d, rng.randint(0, d))
    families = {
        "1": build_linked_tables(dropout, ["provider"], regions={"R": ["GM1", "GM2"]}),
        "3.2": build_linked_tables(no_new_start, ["provider"], regions={"R": ["GM1", "GM2"]}),
    }
    results = protect_shared_denominator(families, SuppressionPolicy(), {})
    assert results["1"].suppressed == results["3.2"].suppressed
    for name, linked in families.items():
        assert release_check(linked, results[name].suppressed, SuppressionPolicy(), {}).ok


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def test_equations_that_do_not_add_up_are_refused():
    with pytest.raises(ValueError, match="add up"):
        LinkedTables({("GM1", "T"): (10, 1), ("GM1", "A"): (4, 1), ("GM1", "B"): (5, 0)},
                     [Equation(("GM1", "T"), (("GM1", "A"), ("GM1", "B")))])
    with pytest.raises(ValueError):
        LinkedTables({("GM1", "A"): (4, 5)}, [])
    with pytest.raises(ValueError):
        build_linked_tables({("GM1", "2025-13", "P1"): (4, 1)}, ["provider"])


def test_builder_derives_periods_regions_and_breakdowns():
    base = {("GM1", "2025-Q1", "P1"): (5, 1), ("GM1", "2025-Q3", "P2"): (7, 2), ("GM2", "2025-Q4", "P1"): (1, 1)}
    linked = build_linked_tables(base, ["provider"], regions={"R": ["GM1", "GM2"]})
    assert linked.cells[CellKey("GM1", "2025")] == CellCounts(12, 3)
    assert linked.cells[CellKey("GM1", "2025-H2", "provider", "P2")] == CellCounts(7, 2)
    assert linked.cells[CellKey("GM1", "2025-Q2", "provider", "P1")] == CellCounts(0, 0)
    assert linked.cells[CellKey("R", "2025-H2", "provider", "P1")] == CellCounts(1, 1)
    assert linked.cells[CellKey("R", "2025")] == CellCounts(13, 4)
    assert linked.municipalities[CellKey("R", "2025")] == frozenset({"GM1", "GM2"})


# --------------------------------------------------------------------------------------------
# properties over random small families
# --------------------------------------------------------------------------------------------


PROPERTY_SETTINGS = {
    "deadline": None,
    "database": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@st.composite
def families(draw):
    n_munis = draw(st.integers(1, 3))
    n_dims = draw(st.integers(1, 2))
    sizes = [draw(st.integers(1, 3)) for _ in range(n_dims)]
    quarters = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True))
    counts = st.one_of(st.integers(0, 12), st.integers(0, 45))
    base = {}
    for m in range(1, n_munis + 1):
        for q in sorted(quarters):
            for combo in itertools.product(*(range(s) for s in sizes)):
                if draw(st.integers(0, 3)) == 0:
                    continue  # absent combination
                d = draw(counts)
                n = draw(st.integers(0, d))
                base[(f"GM{m}", f"2025-Q{q}", *(f"c{v}" for v in combo))] = (d, n)
    if not base:
        base[("GM1", "2025-Q1", *("c0" for _ in sizes))] = (draw(counts), 0)
    dimensions = ["provider", "hulpvorm"][:n_dims]
    regions = {"R": [f"GM{m}" for m in range(1, n_munis + 1)]} if n_munis > 1 else {}
    thresholds = {"GM2": 15} if draw(st.booleans()) else {}
    return base, dimensions, regions, thresholds


@settings(max_examples=60, **PROPERTY_SETTINGS)
@given(families(), st.booleans())
def test_builder_matches_the_definition_over_random_families(family, overlapping):
    """Every derived cell, its counts and the base cells it adds up, from the keys' meaning
    alone; also with a second region that shares a member with the first (a member counts in
    both). The builder sums quarters first and rolls regions and periods up from them."""
    base, dimensions, regions, _ = family
    if overlapping and regions:
        regions = {**regions, "S": ["GM1"]}
    linked = build_linked_tables(base, dimensions, regions=regions)
    canonical = sorted(base, key=sort_key)  # a base cell's id is its position in this order
    expected = set()
    for unit in [*sorted({k[0] for k in base}), *regions]:
        members = set(regions.get(unit, [unit]))
        rows = [k for k in base if k[0] in members]
        for year in sorted({k[1][:4] for k in rows}):
            lines = [(TOTAL, TOTAL)] + [(dimension, value) for i, dimension in enumerate(dimensions)
                                        for value in {k[2 + i] for k in rows if k[1][:4] == year}]
            periods = [f"{year}-Q{q}" for q in range(1, 5)] + [f"{year}-H1", f"{year}-H2", year]
            expected |= {CellKey(unit, p, d, c) for p in periods for d, c in lines}
    assert set(linked.cells) == expected
    for key, counts in linked.cells.items():
        made_of = base_cells_of(key, base, dimensions, regions)
        assert {canonical[i] for i in linked.composition[key]} == made_of, key
        members = set(regions.get(key.unit, [key.unit]))
        covered = [v for k, v in base.items() if k[0] in members and in_period(k[1], key.period)
                   and (key.dimension == TOTAL or k[2 + dimensions.index(key.dimension)] == key.category)]
        assert counts == CellCounts(sum(d for d, _ in covered), sum(n for _, n in covered)), key
    # the equations come in the canonical order, each with its parts in that order
    assert list(linked.equations) == sorted(linked.equations, key=sort_key)
    assert all(list(e.parts) == sorted(e.parts, key=sort_key) for e in linked.equations)


def composition_vectors(linked, base, dimensions, regions):
    columns = sorted(k for k, (d, _) in base.items() if d > 0)
    position = {k: i for i, k in enumerate(columns)}
    vectors = {}
    for key in linked.cells:
        vector = np.zeros(len(columns))
        for b in base_cells_of(key, base, dimensions, regions):
            vector[position[b]] = 1
        vectors[key] = vector
    return vectors


def threshold_of(key, regions, thresholds):
    members = regions.get(key.unit, [key.unit])
    return max([10, *(thresholds.get(m, 10) for m in members)])


@pytest.mark.slow
@settings(max_examples=30, **PROPERTY_SETTINGS)
@given(families(), st.randoms(use_true_random=False))
def test_properties_over_random_families(family, rnd):
    base, dimensions, regions, thresholds = family
    linked = build_linked_tables(base, dimensions, regions=regions)
    policy = SuppressionPolicy()
    result = protect(linked, policy, thresholds)
    published = [k for k, c in result.cells.items() if not c.suppressed]
    keys = sorted(linked.cells)

    # primary suppression, from the definition
    for key, (d, _) in linked.cells.items():
        if 0 < d < threshold_of(key, regions, thresholds):
            assert key in result.primary
        else:
            assert key not in result.primary
        if d == 0:
            assert not result.cells[key].suppressed

    # no primary cell is a linear combination of published cells: over the equations, and
    # over the base cells (which also knows structural zeros)
    vectors = composition_vectors(linked, base, dimensions, regions)
    for target in result.primary:
        assert not derivable_by_equations(keys, linked.equations, published, target)
        assert not derivable_by_composition(vectors, published, target)

    # intervals, by the test's own LP
    cells = {k: tuple(v) for k, v in linked.cells.items()}
    for target in sorted(result.primary):
        lower, upper = reader_interval(cells, linked.equations, result.suppressed, target, "denominator")
        assert upper is None or upper - lower >= threshold_of(target, regions, thresholds)
        lower, upper = reader_interval(cells, linked.equations, result.suppressed, target, "numerator")
        assert upper - lower >= 1
    for key, (d, n) in sorted(cells.items()):
        if key not in result.primary and d > 0 and band_interval(d, n) is not None:
            lower, upper = reader_interval(cells, linked.equations, result.suppressed, key, "numerator")
            assert upper - lower >= 1, key

    # determinism: the same content in another order gives the identical pattern
    items = list(base.items())
    rnd.shuffle(items)
    again = protect(build_linked_tables(dict(items), dimensions, regions=regions), policy, thresholds)
    assert statuses(again) == statuses(result)
    cell_items = list(linked.cells.items())
    rnd.shuffle(cell_items)
    equations = list(linked.equations)
    rnd.shuffle(equations)
    shuffled = LinkedTables(dict(cell_items), equations, municipalities=dict(linked.municipalities),
                            composition=dict(linked.composition))
    assert statuses(protect(shuffled, policy, thresholds)) == statuses(result)


@pytest.mark.slow
@settings(max_examples=20, **PROPERTY_SETTINGS)
@given(families())
def test_families_given_by_equations_alone_are_protected_too(family):
    base, dimensions, regions, thresholds = family
    built = build_linked_tables(base, dimensions, regions=regions)
    linked = LinkedTables(built.cells, built.equations, municipalities=dict(built.municipalities))
    result = protect(linked, SuppressionPolicy(), thresholds)
    published = [k for k, c in result.cells.items() if not c.suppressed]
    keys = sorted(linked.cells)
    for target in result.primary:
        assert not derivable_by_equations(keys, linked.equations, published, target)
    assert release_check(linked, result.suppressed, SuppressionPolicy(), thresholds).ok
