"""The aggregate store: counts per report cell, the only thing reports read.

This module owns the ``report_cells`` and ``store_state`` tables. Ingestion writes through
:func:`apply` (in the same transaction as the records it changes); reports read through
:func:`read_year`. Every change starts a new *generation*, so a reader can tell whether what it
protected is still current. ``store_state`` also remembers the date the linkage indicators were
last settled to (:func:`linkage_as_of`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Literal, NamedTuple

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.orm import Session

from app.models import ReportCell, StoreState


class StoreKey(NamedTuple):
    """One stored cell: where a trajectory ended, who cared for it, and one indicator value."""

    municipality: str
    period: str  # the quarter of the trajectory's end: 2025-Q2
    provider_id: str
    framework: str
    hulpvorm: str
    product_category: str
    age_band: str
    sex: str
    indicator: str
    value: str


KEY_COLUMNS = StoreKey._fields
GENERATION = "generation"
LINKAGE_AS_OF = "linkage_as_of"
#: The dimensions a report can break down by, and their columns.
DIMENSION_COLUMNS = {
    "provider": ReportCell.provider_id, "municipality": ReportCell.municipality, "hulpvorm": ReportCell.hulpvorm,
    "product_category": ReportCell.product_category, "age_band": ReportCell.age_band, "sex": ReportCell.sex,
}
#: How an empty (not reported) dimension value is shown.
UNKNOWN = "unknown"


# ---- the store's state ------------------------------------------------------------------------
def generation(session: Session) -> int:
    """The store's generation: moves on with every change to the counts."""
    state = session.get(StoreState, GENERATION)
    return int(state.value) if state else 0


def _next_generation(session: Session) -> None:
    state = session.get(StoreState, GENERATION)
    if state is None:
        session.add(StoreState(key=GENERATION, value="1"))
    else:
        state.value = str(int(state.value) + 1)
    session.flush()


def linkage_as_of(session: Session) -> date | None:
    """The date the linkage indicators ("geen nieuwe start", "herhaald beroep") were settled to."""
    value = session.get(StoreState, LINKAGE_AS_OF)
    return date.fromisoformat(value.value) if value else None


def set_linkage_as_of(session: Session, day: date) -> None:
    state = session.get(StoreState, LINKAGE_AS_OF)
    if state is None:
        session.add(StoreState(key=LINKAGE_AS_OF, value=day.isoformat()))
    else:
        state.value = day.isoformat()


# ---- writing ----------------------------------------------------------------------------------
def apply(session: Session, delta: Counter[StoreKey]) -> None:
    """Add ``delta`` to the stored counts (upsert), and drop cells that reach zero."""
    changes = {key: n for key, n in delta.items() if n}
    if not changes:
        return
    _next_generation(session)
    connection = session.connection()
    ordered = sorted(changes.items())
    touched = [key for key, n in ordered if n < 0]
    if connection.dialect.name == "postgresql":
        _apply_postgresql(connection, ordered, touched)
        return
    # Plain DB-API executemany of one statement: building SQLAlchemy parameters for thousands
    # of cells per batch costs more than the database work itself.
    marker = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
    columns = ", ".join(KEY_COLUMNS)
    connection.exec_driver_sql(
        f"INSERT INTO report_cells ({columns}, count) VALUES ({', '.join([marker] * (len(KEY_COLUMNS) + 1))}) "  # noqa: S608 - fixed column names
        f"ON CONFLICT ({columns}) DO UPDATE SET count = report_cells.count + excluded.count",
        [(*key, n) for key, n in ordered],
    )
    if touched:
        # One indexed delete per lowered cell (the unique key): a tuple ``IN (VALUES ...)`` of
        # hundreds of keys was a full scan of the store on SQLite, slower as the store grows.
        where = " AND ".join(f"{column} = {marker}" for column in KEY_COLUMNS)
        connection.exec_driver_sql(
            f"DELETE FROM report_cells WHERE {where} AND count <= 0",  # noqa: S608 - fixed column names
            [tuple(key) for key in touched],
        )


#: PostgreSQL: the whole delta as one statement, a column array per key column (``unnest``),
#: instead of a statement per cell (thousands per batch, each executed on its own by the server).
_COLUMNS = ", ".join(KEY_COLUMNS)
_UNNEST_KEYS = ", ".join(["%s::text[]"] * len(KEY_COLUMNS))
_PG_UPSERT = (
    f"INSERT INTO report_cells ({_COLUMNS}, count) "  # noqa: S608 - fixed column names
    f"SELECT * FROM unnest({_UNNEST_KEYS}, %s::integer[]) "
    f"ON CONFLICT ({_COLUMNS}) DO UPDATE SET count = report_cells.count + excluded.count"
)
_PG_DELETE = (
    f"DELETE FROM report_cells AS cell USING unnest({_UNNEST_KEYS}) AS lowered({_COLUMNS}) "  # noqa: S608
    f"WHERE {' AND '.join(f'cell.{c} = lowered.{c}' for c in KEY_COLUMNS)} AND cell.count <= 0"
)


def _apply_postgresql(connection: Connection, ordered: list[tuple[StoreKey, int]], touched: list[StoreKey]) -> None:
    keys = [key for key, _ in ordered]
    connection.exec_driver_sql(_PG_UPSERT, (*_column_arrays(keys), [n for _, n in ordered]))
    if touched:
        connection.exec_driver_sql(_PG_DELETE, tuple(_column_arrays(touched)))


def _column_arrays(keys: list[StoreKey]) -> list[list[str]]:
    return [list(column) for column in zip(*keys, strict=True)]


def replace_all(session: Session, cells: Counter[StoreKey]) -> None:
    """Rebuild: replace the whole store with ``cells``."""
    session.execute(delete(ReportCell))
    _next_generation(session)
    apply(session, cells)


# ---- reading ----------------------------------------------------------------------------------
def stored(session: Session) -> Counter[StoreKey]:
    """The whole aggregate store as a counter."""
    out: Counter[StoreKey] = Counter()
    for row in session.execute(select(ReportCell)).scalars():
        out[StoreKey(*(getattr(row, c) for c in KEY_COLUMNS))] += row.count
    return out


def read_year(
    session: Session,
    *,
    unit: Literal["municipality", "provider"],
    units: Sequence[str],
    dimensions: Sequence[str],
    year: int,
    frameworks: Sequence[str],
    indicators: Sequence[str],
) -> dict[tuple[str, ...], Counter[str]]:
    """One year of the store for some municipalities (or providers), summed over what
    ``dimensions`` leaves out: ``(unit, quarter, *dimension values, indicator) -> Counter(value -> count)``.
    An empty dimension value reads as :data:`UNKNOWN`."""
    unit_column = DIMENSION_COLUMNS[unit]
    columns = [DIMENSION_COLUMNS[d] for d in dimensions]
    query = (
        select(unit_column, ReportCell.period, *columns, ReportCell.indicator, ReportCell.value,
               func.sum(ReportCell.count))
        .where(ReportCell.period.in_([f"{year}-Q{q}" for q in range(1, 5)]),
               ReportCell.framework.in_(list(frameworks)), ReportCell.indicator.in_(list(indicators)),
               unit_column.in_(list(units)))
        .group_by(unit_column, ReportCell.period, *columns, ReportCell.indicator, ReportCell.value)
    )
    out: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for row in session.execute(query):
        unit_value, quarter, *rest = row
        *dims, indicator, value, count = rest
        out[(unit_value, quarter, *(d or UNKNOWN for d in dims), indicator)][value] += int(count)
    return out
