"""What one record counts in: its cells in the aggregate store.

A record contributes one count to one cell per derived indicator value. The cell is the
trajectory's municipality, the quarter of its end, its provider, framework, hulpvorm, product
category, age band and sex, and the indicator with its value. Ingestion computes the
contributions of everything a change touches before and after, and adds the difference to the
store (:mod:`app.aggregate_store`) in the same transaction, so the store always equals what a
full recomputation gives (``ttp verify``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from app.aggregate_store import StoreKey
from app.records import indicators
from app.records.schemas import JeugdhulpRecord, Record


def quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def linkage_group(record: Record) -> str:
    """The trajectories linked with each other for one person: jeugdhulp, or JB and JR together."""
    return "jeugdhulp" if record.framework == "jeugdhulp" else "jbjr"


def contributions(
    provider_id: str,
    record: Record,
    *,
    config: indicators.IndicatorConfig,
    linked: Mapping[str, str] | None = None,
) -> list[StoreKey]:
    """The cells one record counts in. ``linked`` overrides the linkage indicators' values."""
    cells = base_contributions(provider_id, record, config=config)
    return with_linked(cells, linked) if linked else cells


def base_contributions(provider_id: str, record: Record, *, config: indicators.IndicatorConfig) -> list[StoreKey]:
    """The cells one record counts in with the linkage indicators ``pending`` (as derived):
    :func:`with_linked` turns them; ingestion computes these once per record and change."""
    if record.end_date is None:
        return []
    values = indicators.derive_pairs(record, config=config)
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
    new = tuple.__new__
    return [new(StoreKey, (*base, indicator, value)) for indicator, value in values]


def with_linked(cells: list[StoreKey], linked: Mapping[str, str]) -> list[StoreKey]:
    """``cells`` with the linkage indicators' values taken from ``linked``."""
    return [cell._replace(value=linked[cell.indicator]) if cell.indicator in linked else cell for cell in cells]


def linkage_values(
    record: Record, other_starts: Iterable[date], *, as_of: date, window_months: int
) -> dict[str, str]:
    """The linkage indicators of one ended trajectory, given the starts of the person's other
    trajectories of the same linkage group (jeugdhulp, or JB/JR)."""
    if record.end_date is None:
        return {}
    starts = list(other_starts)
    if record.framework == "jeugdhulp":
        new_start = indicators.new_start_status(record.end_date, starts, as_of=as_of, window_months=window_months)
        return {"3.2": new_start}
    repeat = indicators.repeat_status(record.start_date, record.end_date, starts, as_of=as_of,
                                      window_months=window_months)
    return {"jbjr.repeat": repeat}
