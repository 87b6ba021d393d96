"""Disclosure control for aggregated reports: a pure function over tables of counts.

No web, no database: the report layer reads counts from the aggregate store, builds a family
with :func:`build_linked_tables`, calls :func:`protect`, and renders what it returns.

What is protected, against whom (DESIGN.md, "Who already knows what")
-------------------------------------------------------------------------
* A *family* is everything one party can obtain for one indicator and year: totals and every
  one-dimensional breakdown, per quarter, half-year and year, per municipality and for the
  region. Protect the whole family at once (for a region: all its member municipalities and
  the region together) and serve every report of it from that one result, so that no party can
  subtract one report from another.
* Primary: a cell with ``0 < denominator < threshold``. The threshold of a cell is the
  strictest (largest) of the municipalities it covers, never below the policy's
  ``minimum_cell_size`` (itself never below 10): a region cell gets the strictest of its
  members. Empty cells concern nobody and are published as 0 (so a withheld cell is known not
  to be empty; the release check gives the reader that knowledge).
* Secondary (:mod:`.perturbation`): for every quantity the release check will examine, a
  minimum-cost perturbation LP (Kelly-Golden-Assad, Fischetti-Salazar; the idea behind
  tau-Argus's optimal and modular methods) finds the cheapest published cells whose
  withholding leaves it a feasible interval of the required width (cost: the cell's
  denominator, so small cells go first and totals last). Each perturbation is kept as a
  certificate. Small LPs first (the cell's breakdown in its own unit, its region and the
  largest fellow members), the whole family only when those find nothing.
* Exact non-derivability (:mod:`.suppression`): Gaussian elimination in the manner of
  Statistics Norway's GaussSuppression over the exact linear structure of the family (base
  cells it adds up, structural zeros included) confirms that no primary cell is a linear
  combination of published ones; only if one is does it choose more cells (largest
  denominator published first).
* Release check (:mod:`.check`): linear programmes give, for each withheld cell, the
  interval a reader can still narrow it to. Requirements: the denominator of a primary cell
  keeps an interval at least ``protection_interval`` wide (default: its threshold) for a reader
  who knows everything published; for a reader who also knows every denominator (a
  municipality), the numerator of a primary cell keeps a width of at least
  ``min(numerator_protection, d)`` (default: it is not pinned to one value), and so does the
  numerator of any cell whose numerator or complement is small (``protect_bands``), so that
  nobody learns by subtraction that all or none of a group had the outcome.
  A certificate that still verifies against the final pattern proves its cells pass; the
  rest get LPs. While something fails, one more published cell is withheld for it (chosen
  by LP pricing: the least wanted cell whose release widens the failing interval); never
  fewer cells.
* Render one and the same reason for primary and secondary suppression: the check assumes a
  reader cannot tell them apart (knowing "primary" would tell them ``d < threshold``).
* Bands (:mod:`.presentation`): a published numerator below ``small_count`` (or a complement
  below it) is shown as a band.

Rounding and shares
-------------------
Rounding of shown counts is presentation (CBS publishes multiples of 5), not protection: the
release check assumes the reader knows every published count exactly. So a share computed
from the true counts (the default) weakens nothing the check relies on, and it keeps the
figure a municipality steers by accurate; a rounded count beside an exact share is no longer
a secret, which is acceptable because it was never one. A deployment that wants rounding to
defend against differencing between *releases* (data corrected or withdrawn in between)
should set ``share_from_rounded_counts`` so the share reveals nothing beyond the rounded
counts.

Out of scope here (for the caller)
----------------------------------
* Indicators that share a denominator must share a pattern: :func:`protect_shared_denominator`.
* Cells carrying more counts (responses, response rate, mean mark) must be withheld with the
  cell; their own disclosure is not analysed here.
* The singleton problem (a contributor subtracting its own known contribution) does not arise
  through the access rules: only municipalities read tables broken down by provider, and the
  "knows_denominators" reader already has every denominator; no reader of a table knows
  other parties' numerators. A provider's mirror family (unit = the provider, breakdown by
  municipality: ``build_linked_tables(..., municipality_dimension="municipality")``) is
  protected on its own: it overlaps the municipalities' by-provider cells, but no party can
  read both.
"""

from app.reports.disclosure.check import release_check
from app.reports.disclosure.findings import Finding, ReleaseCheck
from app.reports.disclosure.policy import MINIMUM_CELL_SIZE_FLOOR, SuppressionPolicy
from app.reports.disclosure.presentation import Band
from app.reports.disclosure.protection import ProtectedCell, ProtectedTables, protect, protect_shared_denominator
from app.reports.disclosure.suppression import cell_thresholds, primary_suppressed, secondary_suppressed
from app.reports.disclosure.tables import (
    TOTAL,
    CellCounts,
    CellKey,
    Equation,
    LinkedTables,
    build_linked_tables,
)

__all__ = [
    "MINIMUM_CELL_SIZE_FLOOR",
    "TOTAL",
    "Band",
    "CellCounts",
    "CellKey",
    "Equation",
    "Finding",
    "LinkedTables",
    "ProtectedCell",
    "ProtectedTables",
    "ReleaseCheck",
    "SuppressionPolicy",
    "build_linked_tables",
    "cell_thresholds",
    "primary_suppressed",
    "protect",
    "protect_shared_denominator",
    "release_check",
    "secondary_suppressed",
]
