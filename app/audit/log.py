"""The append-only audit log.

Each entry follows NEN 7513 as far as it fits a TTP that holds no identities: what happened
(``action``, ``result``, ``status``), when (``at``), who (``client_id``), on whose behalf
(``org_type``/``org_id``, ``role`` = the scope that authorised the action), from where
(``source``), which object (``resource``) and why (``purpose``). ``detail`` holds counts, hashes and
key ids only: never pseudonyms, secrets, tokens or record contents.

Every entry's canonical form is hashed into an RFC 9162 Merkle leaf (``leaf_hash``); the leaf
includes the entry's sequence number, so editing, removing or reordering entries is detectable.
Entries are numbered densely under a lock, so the tree order never has gaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.audit.merkle import leaf_hash
from app.models import AuditEntry

#: PostgreSQL advisory lock key that serialises audit appends (dense, gap-free numbering).
_AUDIT_LOCK_KEY = 7513

_CANONICAL_FIELDS = (
    "seq", "at", "request_id", "client_id", "org_type", "org_id", "role", "action", "resource",
    "purpose", "result", "status", "source", "detail",
)
#: The fields of an entry, in the log's order (each entry's leaf hash covers exactly these).
CANONICAL_FIELDS = _CANONICAL_FIELDS


@dataclass
class AuditEvent:
    """What one audit entry says (all fields but the sequence number and the hash)."""

    action: str
    result: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    request_id: str | None = None
    client_id: str | None = None
    org_type: str | None = None
    org_id: str | None = None
    role: str | None = None
    resource: str | None = None
    purpose: str | None = None
    status: int | None = None
    source: str | None = None
    detail: dict[str, Any] | None = None


def _timestamp(at: datetime) -> str:
    if at.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC.
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(values: dict[str, Any]) -> bytes:
    """The canonical form of an entry: sorted-key compact JSON of the fixed field set, UTF-8."""
    doc: dict[str, Any] = {name: values.get(name) for name in _CANONICAL_FIELDS}
    doc["at"] = _timestamp(doc["at"])
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_values(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _CANONICAL_FIELDS}


def entry_leaf_hash(entry: AuditEntry) -> bytes:
    """Recompute an entry's leaf hash from its stored fields."""
    return leaf_hash(canonical_bytes(entry_values(entry)))


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _AUDIT_LOCK_KEY})
    # SQLite: every transaction begins IMMEDIATE (app.db), which already serialises writers.


def append(session: Session, event: AuditEvent) -> AuditEntry:
    """Add ``event`` to the log in the session's transaction (committed with the data it audits)."""
    _lock(session)
    last = session.execute(select(func.max(AuditEntry.seq))).scalar_one()
    values: dict[str, Any] = {
        name: getattr(event, name) for name in _CANONICAL_FIELDS if name != "seq"
    }
    for name, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL text cannot hold NUL; an entry must never fail to be written.
            values[name] = value.replace("\x00", "\ufffd")
    values["seq"] = (last or 0) + 1
    values["at"] = event.at.astimezone(UTC)
    entry = AuditEntry(**values, leaf_hash=leaf_hash(canonical_bytes(values)))
    session.add(entry)
    session.flush()
    return entry
