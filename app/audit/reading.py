"""Reading the audit log: the filter, the rows as the leaf hash covers them, and CSV / JSON lines.

One implementation for every reader: ``GET /v1/audit/entries`` (:mod:`app.audit.router`) and the
privacy officer's pages (:mod:`app.web.privacy_pages`) both filter, page and export through here,
so a filter or an export means the same wherever it is asked for.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.audit.log import CANONICAL_FIELDS, canonical_bytes, entry_values
from app.models import AuditEntry

#: The results an entry can have (``app.audit.context.result_for``).
RESULTS = ("success", "denied", "not_found", "rejected", "error")

#: CSV columns: the entry's fields in the log's order, then its leaf hash.
CSV_COLUMNS: tuple[str, ...] = (*CANONICAL_FIELDS, "leaf_hash")

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class EntryFilter:
    """Which entries: ``start <= at < end`` and each given field equal to its value (None: any)."""

    start: datetime | None = None
    end: datetime | None = None
    client_id: str | None = None
    org_type: str | None = None
    org_id: str | None = None
    action: str | None = None
    result: str | None = None

    def apply(self, query: Select[Any]) -> Select[Any]:
        if self.start is not None:
            query = query.where(AuditEntry.at >= self.start)
        if self.end is not None:
            query = query.where(AuditEntry.at < self.end)
        for column, value in ((AuditEntry.client_id, self.client_id), (AuditEntry.org_type, self.org_type),
                              (AuditEntry.org_id, self.org_id), (AuditEntry.action, self.action),
                              (AuditEntry.result, self.result)):
            if value is not None:
                query = query.where(column == value)
        return query


def entry_out(entry: AuditEntry) -> dict[str, Any]:
    """The entry's fields exactly as its leaf hash covers them (``at`` in the canonical form)."""
    values = entry_values(entry)
    canonical = json.loads(canonical_bytes(values))
    out = {name: canonical[name] for name in values}  # the log's field order
    out["leaf_hash"] = bytes(entry.leaf_hash).hex()
    return out


def entries(
    session: Session,
    where: EntryFilter,
    *,
    limit: int,
    after_seq: int = 0,
    before_seq: int | None = None,
    newest_first: bool = False,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The filtered entries with ``after_seq < seq < before_seq``, at most ``limit`` after skipping
    ``offset``, in sequence order (``newest_first``: from the highest number down)."""
    query = where.apply(select(AuditEntry).where(AuditEntry.seq > after_seq))
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq
    query = query.order_by(order).limit(limit)
    if offset:
        query = query.offset(offset)
    return [entry_out(e) for e in session.execute(query).scalars()]


def count(session: Session, where: EntryFilter) -> int:
    """How many entries the filter selects."""
    return int(session.execute(where.apply(select(func.count()).select_from(AuditEntry))).scalar_one())


def length(session: Session) -> int:
    """The number of entries in the log (its highest sequence number: entries are numbered densely)."""
    return int(session.execute(select(func.max(AuditEntry.seq))).scalar_one() or 0)


def actions(session: Session) -> list[str]:
    """Every action the log holds, sorted (for a filter's choices)."""
    return sorted(session.execute(select(AuditEntry.action).distinct()).scalars())


def latest_of(session: Session, actions: Sequence[str]) -> AuditEntry | None:
    """The newest entry with one of ``actions``."""
    return session.execute(
        select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar_one_or_none()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text  # a spreadsheet must not run a field as a formula (OWASP CSV injection)
    return text


def csv_text(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as CSV: a header, then one line per entry (detail as JSON; a text a spreadsheet
    would run as a formula is prefixed with ``'``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_csv_cell(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


def ndjson_text(rows: Iterable[dict[str, Any]]) -> str:
    """The rows as JSON lines: one compact JSON object per entry."""
    return "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
