"""The aggregate store: counts per report cell, the only thing reports read.

A record contributes one count to one cell per derived indicator value. The cell is the
trajectory's municipality, the quarter of its end, its provider, framework, hulpvorm, product
category, age band and sex, and the indicator with its value. Ingestion computes the
contributions of everything a change touches before and after, and adds the difference in the
same transaction, so the store always equals what a full recomputation gives (``ttp verify``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import NamedTuple

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from app.models import ReportCell, StoreState
from app.records import indicators
from app.records.schemas import JeugdhulpRecord, Record


class CellKey(NamedTuple):
    municipality: str
    period: str
    provider_id: str
    framework: str
    hulpvorm: str
    product_category: str
    age_band: str
    sex: str
    indicator: str
    value: str


KEY_COLUMNS = CellKey._fields

#: Indicators whose value depends on other trajectories of the same person (linkage).
LINKED = {"3.2": "jeugdhulp", "jbjr.repeat": "jbjr"}


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def family(record: Record) -> str:
    return "jeugdhulp" if record.framework == "jeugdhulp" else "jbjr"


def contributions(
    provider_id: str,
    record: Record,
    *,
    config: indicators.IndicatorConfig,
    linked: Mapping[str, str] | None = None,
) -> list[CellKey]:
    """The cells one record counts in. ``linked`` overrides the linkage indicators' values."""
    if record.end_date is None:
        return []
    values = indicators.derive(record, config=config)
    base = (
        record.municipality,
        quarter(record.end_date),
        provider_id,
        record.framework,
        record.hulpvorm if isinstance(record, JeugdhulpRecord) else getattr(record, "measure_type", "") or "",
        (record.product_category or "") if isinstance(record, JeugdhulpRecord) else "",
        record.age_band or "",
        record.sex or "",
    )
    cells = []
    for item in values:
        value = linked.get(item.indicator, item.value) if linked else item.value
        cells.append(CellKey(*base, item.indicator, value))
    return cells


def linkage_values(
    record: Record, other_starts: Iterable[date], *, as_of: date, window_months: int
) -> dict[str, str]:
    """The linkage indicators of one ended trajectory, given the starts of the person's other
    trajectories of the same family (jeugdhulp, or JB/JR)."""
    if record.end_date is None:
        return {}
    starts = list(other_starts)
    if record.framework == "jeugdhulp":
        status = indicators.new_start_status(record.end_date, starts, as_of=as_of, window_months=window_months)
        return {"3.2": status}
    status = indicators.repeat_status(record.start_date, record.end_date, starts, as_of=as_of,
                                      window_months=window_months)
    return {"jbjr.repeat": status}


def apply(session: Session, delta: Counter[CellKey]) -> None:
    """Add ``delta`` to the stored counts (upsert), and drop cells that reach zero."""
    changes = {key: n for key, n in delta.items() if n}
    if not changes:
        return
    _next_generation(session)
    # Plain DB-API executemany of one statement: building SQLAlchemy parameters for thousands
    # of cells per batch costs more than the database work itself.
    connection = session.connection()
    marker = "%s" if connection.dialect.paramstyle in ("format", "pyformat") else "?"
    columns = ", ".join(KEY_COLUMNS)
    connection.exec_driver_sql(
        f"INSERT INTO report_cells ({columns}, count) VALUES ({', '.join([marker] * (len(KEY_COLUMNS) + 1))}) "  # noqa: S608 - fixed column names
        f"ON CONFLICT ({columns}) DO UPDATE SET count = report_cells.count + excluded.count",
        [(*key, n) for key, n in sorted(changes.items())],
    )
    if any(n < 0 for n in changes.values()):
        touched = [tuple(key) for key, n in changes.items() if n < 0]
        columns = tuple_(*(getattr(ReportCell, c) for c in KEY_COLUMNS))
        for start in range(0, len(touched), 500):
            session.execute(
                delete(ReportCell).where(columns.in_(touched[start:start + 500]), ReportCell.count <= 0)
            )


def _next_generation(session: Session) -> None:
    """Every change to the store starts a new generation (reports cache per generation)."""
    state = session.get(StoreState, "generation")
    if state is None:
        session.add(StoreState(key="generation", value="1"))
    else:
        state.value = str(int(state.value) + 1)
    session.flush()


def stored(session: Session) -> Counter[CellKey]:
    """The whole aggregate store as a counter."""
    out: Counter[CellKey] = Counter()
    for row in session.execute(select(ReportCell)).scalars():
        out[CellKey(*(getattr(row, c) for c in KEY_COLUMNS))] += row.count
    return out


def replace_all(session: Session, cells: Counter[CellKey]) -> None:
    """Rebuild: replace the whole store with ``cells``."""
    session.execute(delete(ReportCell))
    _next_generation(session)
    apply(session, cells)
