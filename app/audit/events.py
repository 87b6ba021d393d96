"""Audit entries for what happens outside a request: key events and the configuration in force.

* :func:`record_key_event` writes ``keys.*`` entries (a new key-encryption key, a rewrap, a new
  audit-signing key ...) with key ids and counts only, never key material.
* :func:`start_detail` tells, at service start, whether the privacy configuration changed since
  the previous start, so that a privacy officer sees every change of the DPIA-relevant choices in
  the log (each start's ``privacy_config_sha256`` against the previous start's).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import log as audit_log
from app.models import AuditEntry

#: Detail keys that could only hold key material or secrets: refused outright.
_FORBIDDEN_KEYS = {"key", "secret", "material", "private_key", "password", "token", "dek", "plaintext"}
_MAX_TEXT = 200


class AuditDetailError(ValueError):
    """A detail value is not something the audit log may hold."""


def _check_detail(detail: dict[str, Any]) -> dict[str, Any]:
    for name, value in detail.items():
        if not isinstance(name, str) or name.lower() in _FORBIDDEN_KEYS:
            raise AuditDetailError(f"detail key {name!r} is not allowed in the audit log (no key material)")
        if isinstance(value, bytes | bytearray | memoryview):
            raise AuditDetailError(f"detail {name!r}: bytes are not allowed in the audit log (no key material)")
        if isinstance(value, list | tuple):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if item is not None and not isinstance(item, str | int | float | bool):
                raise AuditDetailError(f"detail {name!r}: only key ids, counts and flags are allowed")
            if isinstance(item, str) and len(item) > _MAX_TEXT:
                raise AuditDetailError(f"detail {name!r}: a text longer than {_MAX_TEXT} characters is not a key id")
    return {k: list(v) if isinstance(v, tuple) else v for k, v in detail.items()}


def record_key_event(
    session: Session,
    action: str,
    detail: dict[str, Any],
    *,
    org_id: str | None = None,
    client_id: str | None = None,
    source: str | None = "cli",
    result: str = "success",
) -> AuditEntry:
    """Append a key event in ``session``'s transaction (commit it with the key change).

    ``action`` is ``keys.<what>``, e.g. ``keys.rotate`` with ``{"purpose": "kek", "key_id": ...,
    "previous_key_id": ...}`` or ``keys.rewrap`` with ``{"kek_id": ..., "rewrapped": 120}``.
    ``detail`` holds key ids, purposes and counts only; key material is refused.
    """
    if not action.startswith("keys.") or len(action) > 100:
        raise AuditDetailError(f"a key event's action must be 'keys.<what>', got {action!r}")
    return audit_log.append(
        session,
        audit_log.AuditEvent(
            action=action,
            result=result,
            org_type="admin",
            org_id=org_id,
            client_id=client_id,
            role="admin",
            resource=f"keys/{detail.get('purpose', '')}".rstrip("/"),
            source=source,
            detail=_check_detail(detail),
        ),
    )


def previous_start(session: Session) -> AuditEntry | None:
    """The most recent ``service.start`` entry, if any."""
    return session.execute(
        select(AuditEntry).where(AuditEntry.action == "service.start").order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar_one_or_none()


def start_detail(session: Session, sha256: str) -> dict[str, Any]:
    """What the ``service.start`` entry says about the configuration in force, compared with the
    previous start: ``{"privacy_config_changed": bool, "previous_sha256": str | None}``.

    The first start ever has no previous configuration: ``changed`` is False and
    ``previous_sha256`` None (and ``first_start`` True). Call it before appending the new entry.
    """
    previous = previous_start(session)
    if previous is None:
        return {"privacy_config_changed": False, "previous_sha256": None, "first_start": True}
    detail = previous.detail if isinstance(previous.detail, dict) else {}
    before = detail.get("privacy_config_sha256")
    before = before if isinstance(before, str) else None
    return {"privacy_config_changed": before != sha256, "previous_sha256": before, "first_start": False}
