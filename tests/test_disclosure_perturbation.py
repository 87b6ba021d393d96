"""The perturbation step of disclosure control and its certificates.

A certificate claims: "the true counts plus this shift are counts the reader cannot rule out".
These tests check every certificate ``secure`` hands out by their own arithmetic over the
family's equations (not through the module's verifier), and that the verifier refuses each
way a certificate can be wrong.
"""

from __future__ import annotations

from hypothesis import given, settings

from app.reports.disclosure import CellKey, SuppressionPolicy, build_linked_tables, protect, release_check
from app.reports.disclosure.check import check_pattern
from app.reports.disclosure.indexed import IndexedFamily
from app.reports.disclosure.perturbation import Certificate, secure, verify
from tests.test_disclosure import PROPERTY_SETTINGS, band_interval, families, hierarchy_base, one_row

REGIONS = {"R": ["GM1", "GM2", "GM3"]}


def _family(base, dimensions, regions, thresholds):
    linked = build_linked_tables(base, dimensions, regions=regions)
    family = IndexedFamily.build(linked, SuppressionPolicy(), thresholds)
    return linked, family


def _holds(linked, family, suppressed, certificate) -> bool:
    """The certificate's point, checked by hand: every equation adds up, nothing published
    moves, every count stays within what the reader knows of it. (Numerators moved along with
    their denominators satisfy the same equations, as they move by the same amounts.)"""
    moved = certificate.moves()
    field = "denominator" if certificate.quantity == 0 else "numerator"
    value = {key: getattr(linked.cells[key], field) + moved.get(family.index[key], 0.0) for key in linked.cells}
    for total, parts in linked.equations:
        if abs(value[total] - sum(value[p] for p in parts)) > 1e-6:
            return False
    for i in moved:
        key = family.keys[i]
        d, n = linked.cells[key]
        if certificate.quantity == 0:  # a withheld denominator: not empty, not below its numerator
            numerator = n + (moved[i] if certificate.along else 0)  # moved along, or held
            if i not in suppressed or value[key] < max(1, numerator) - 1e-6 or numerator < -1e-6:
                return False
            continue
        if i in suppressed:  # a withheld numerator: anything from 0 to its (known) denominator
            low, high = 0, d
        elif band_interval(d, n) is not None:  # a published band
            low, high = band_interval(d, n)
        else:
            return False
        if not low - 1e-6 <= value[key] <= high + 1e-6:
            return False
    return True


@settings(max_examples=25, **PROPERTY_SETTINGS)
@given(families())
def test_every_certificate_is_a_point_the_reader_cannot_rule_out(family_input):
    base, dimensions, regions, thresholds = family_input
    linked, family = _family(base, dimensions, regions, thresholds)
    suppressed = set(family.primary)
    added, certificates, _ = secure(family, suppressed, list(range(len(family.keys))))
    suppressed |= added
    reach: dict[tuple[int, int], tuple[float, float]] = {}  # (quantity, cell) -> lowest, highest shift
    for c in certificates:
        for i, s in zip(c.cells, c.shift, strict=True):
            low, high = reach.get((c.quantity, i), (0.0, 0.0))
            reach[(c.quantity, i)] = (min(low, s), max(high, s))
    for certificate in certificates:
        assert _holds(linked, family, suppressed, certificate)
        assert verify(family, suppressed, certificate)
    # every primary denominator is moved over its full required width (between the points of
    # one or more certificates: the feasible set is convex, so all between is feasible too)
    for i in family.primary:
        low, high = reach.get((0, i), (0.0, 0.0))
        assert high - low >= family.required_denominator(i) - 1e-6
    # and the check, given the certificates, agrees with the check that solves every LP
    with_certificates = check_pattern(family, suppressed, certificates=certificates)
    family.cache.clear()
    exact = check_pattern(family, suppressed, exact=True)
    assert with_certificates.ok == exact.ok
    assert {(f.cell, f.quantity) for f in with_certificates.failures} == {
        (f.cell, f.quantity) for f in exact.failures
    }


def _certified(linked, family):
    suppressed = set(family.primary)
    added, certificates, _ = secure(family, suppressed, list(range(len(family.keys))))
    suppressed |= added
    assert certificates
    return suppressed, certificates


def test_the_verifier_refuses_a_moved_published_cell():
    linked, family = _family(hierarchy_base(), ["provider"], REGIONS, {})
    suppressed, certificates = _certified(linked, family)
    certificate = next(c for c in certificates if c.quantity == 0)
    published = next(i for i in range(len(family.keys)) if i not in suppressed and family.d[i] > 0)
    assert verify(family, suppressed, certificate)
    forged = Certificate(certificate.reader, 0, (*certificate.cells, published), (*certificate.shift, 0.5))
    assert not verify(family, suppressed, forged)
    # once that cell is withheld as well, the same shift is only refused for not adding up
    assert not verify(family, suppressed | {published}, forged)


def test_the_verifier_refuses_a_broken_sum_and_a_count_out_of_range():
    linked, family = _family(hierarchy_base(), ["provider"], REGIONS, {})
    suppressed, certificates = _certified(linked, family)
    certificate = next(c for c in certificates if c.quantity == 0 and len(c.cells) > 1)
    broken = Certificate(certificate.reader, 0, certificate.cells, (certificate.shift[0] + 1, *certificate.shift[1:]))
    assert not verify(family, suppressed, broken)
    assert not _holds(linked, family, suppressed, broken)
    # pushing every moved cell far below zero keeps the sums (scaled) but breaks the bounds
    sunk = Certificate(certificate.reader, 0, certificate.cells, tuple(-1000 * s for s in certificate.shift))
    assert not verify(family, suppressed, sunk)
    # a certificate for a pattern stops counting when a moved cell is published after all
    moved_withheld = next(i for i in certificate.cells if i not in family.primary) if any(
        i not in family.primary for i in certificate.cells) else None
    if moved_withheld is not None:
        assert not verify(family, suppressed - {moved_withheld}, certificate)


def test_a_cell_of_nine_gets_a_cycle_through_cells_large_enough_to_give_way():
    # GM1's provider P1 has 9 in Q1: its certificate must move it by the full threshold (10)
    base = hierarchy_base()
    linked, family = _family(base, ["provider"], REGIONS, {})
    target = CellKey("GM1", "2025-Q1", "provider", "P1")
    assert family.index[target] in family.primary
    suppressed, certificates = _certified(linked, family)
    shifts = [c.moves()[family.index[target]] for c in certificates
              if c.quantity == 0 and family.index[target] in c.cells]
    assert shifts and max(abs(s) for s in shifts) >= 10
    result = protect(linked, SuppressionPolicy(), {})
    assert release_check(linked, result.suppressed, SuppressionPolicy(), {}).ok
    assert result.added_by_perturbation


def test_when_everyone_had_the_outcome_denominators_move_with_their_numerators():
    # every count has numerator = denominator (everyone had "no new start", say). Holding the
    # numerators would leave no cell room to shrink, and only the total could give way; moving
    # the records out of B together with their outcome keeps the total published.
    counts = {"A": (4, 4), "B": (30, 30), "C": (40, 40)}
    linked = one_row(counts)
    family = IndexedFamily.build(linked, SuppressionPolicy(), {})
    suppressed = set(family.primary)
    added, certificates, _ = secure(family, suppressed, list(range(len(family.keys))))
    assert {family.keys[i] for i in added} == {("GM1", "B")}
    along = [c for c in certificates if c.quantity == 0]
    assert along and all(c.along for c in along)
    assert all(_holds(linked, family, suppressed | added, c) for c in certificates)
    # the same shift with the numerators held would take B below its numerator: refused
    held = [Certificate(c.reader, 0, c.cells, c.shift, along=False) for c in along]
    assert not any(verify(family, suppressed | added, c) for c in held)

    result = protect(linked, SuppressionPolicy(), {})
    assert not result.cells[("GM1", "T")].suppressed
    assert release_check(linked, result.suppressed, SuppressionPolicy(), {}).ok


def test_a_region_of_small_members_keeps_its_total():
    # twenty members of 3 to 6 each: every member's total is withheld, but the region's total
    # need not be: the members' cells give each other room, and the perturbations must find it
    # rather than give up the region's headline figure.
    base = {}
    members = [f"GM{m:02d}" for m in range(20)]
    for m, member in enumerate(members):
        size = 3 + m % 4
        base[(member, "2025-Q1", "P1")] = (size - size // 2, 1)
        base[(member, "2025-Q2", "P1")] = (size // 2, 0)
    linked = build_linked_tables(base, ["provider"], regions={"R": members})
    result = protect(linked, SuppressionPolicy(), {})
    assert all(result.cells[CellKey(member, "2025")].suppressed for member in members)
    assert not result.cells[CellKey("R", "2025")].suppressed
    assert release_check(linked, result.suppressed, SuppressionPolicy(), {}).ok
