"""The HiGHS LP solver as bundled with SciPy, kept open between solves.

Both the release check's reader LPs (:mod:`.reader_lp`) and the perturbation LPs
(:mod:`.perturbation`) solve one model many times with another objective or other column
bounds. Through :class:`HighsModel` each re-solve starts from the previous optimal basis (a few
simplex iterations instead of a full solve). SciPy only offers this through its private
``_highspy`` module, so this is the one place that imports it; :func:`available` says whether
it could (the release check then falls back on ``scipy.optimize.linprog``; the perturbation
step is skipped and the check decides alone).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.sparse import csc_array

try:
    from scipy.optimize._highspy import _core
except ImportError:  # pragma: no cover - other SciPy builds
    _core = None


class HighsUnavailable(RuntimeError):
    """SciPy's bundled HiGHS is missing or has another API."""


def available() -> bool:
    return _core is not None


class HighsModel:
    """``minimise cost @ x`` subject to ``row_lower <= matrix @ x <= row_upper`` and
    ``col_lower <= x <= col_upper``, in one persistent HiGHS instance.

    ``primal_simplex``: each re-solve with a new objective walks from the last optimal basis,
    which stays primal feasible (the right strategy when only the objective changes).
    """

    def __init__(
        self,
        matrix: csc_array | None,
        cost: np.ndarray,
        col_lower: np.ndarray,
        col_upper: np.ndarray,
        row_lower: np.ndarray,
        row_upper: np.ndarray,
        *,
        primal_simplex: bool = False,
    ) -> None:
        global _core
        if _core is None:
            raise HighsUnavailable("SciPy's bundled HiGHS is not available")
        try:
            self._highs = _open(matrix, cost, col_lower, col_upper, row_lower, row_upper, primal_simplex)
        except (AttributeError, TypeError) as error:  # pragma: no cover - a SciPy with another HiGHS API
            _core = None
            raise HighsUnavailable(f"SciPy's bundled HiGHS has another API: {error}") from error
        self._status = None

    def set_costs(self, columns: np.ndarray, costs: np.ndarray) -> None:
        """New objective coefficients for ``columns`` (int32 indices, ascending)."""
        self._highs.changeColsCost(len(columns), columns, costs)

    def set_bounds(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """New bounds for ``columns`` (int32 indices, ascending)."""
        self._highs.changeColsBounds(len(columns), columns, lower, upper)

    def run(self) -> bool:
        """Solve from the current basis; ``True`` when an optimum was found."""
        self._highs.run()
        self._status = self._highs.getModelStatus()
        return self._status == _core.HighsModelStatus.kOptimal

    @property
    def iterations(self) -> int:
        """Simplex iterations of the last solve (a measure of work that does not depend on the
        machine's load)."""
        return int(self._highs.getInfo().simplex_iteration_count)

    @property
    def status(self) -> str:
        """The model status of the last solve, in HiGHS's words."""
        return self._highs.modelStatusToString(self._status)

    def values(self) -> np.ndarray:
        """The optimal point of the last solve."""
        return np.asarray(self._highs.getSolution().col_value)

    def values_and_duals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The optimal point of the last solve, the row duals and the column duals."""
        solution = self._highs.getSolution()
        return np.asarray(solution.col_value), np.asarray(solution.row_dual), np.asarray(solution.col_dual)


def _open(
    matrix: csc_array | None,
    cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    primal_simplex: bool,
) -> Any:
    columns, rows = len(col_lower), len(row_lower)
    lp = _core.HighsLp()
    lp.num_col_ = columns
    lp.num_row_ = rows
    lp.col_cost_ = cost
    lp.col_lower_ = col_lower
    lp.col_upper_ = col_upper
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = columns
    lp.a_matrix_.num_row_ = rows
    if matrix is not None:
        lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
        lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
        lp.a_matrix_.value_ = matrix.data.astype(float)
    else:
        lp.a_matrix_.start_ = np.zeros(columns + 1, dtype=np.int32)
    highs = _core._Highs()
    highs.setOptionValue("output_flag", False)
    if primal_simplex:
        highs.setOptionValue("simplex_strategy", 4)
    highs.passModel(lp)
    return highs
