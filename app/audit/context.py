"""The audit context of one request.

The request middleware creates it; the auth dependency fills in who; the endpoint fills in what
(action, resource, purpose, counts) and, when it changes data, writes the entry in the same
transaction as the change (:meth:`AuditContext.commit`). Whatever the endpoint did not write —
denials, invalid input, errors — the middleware writes when the response starts, so every
request to ``/v1`` leaves exactly one entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from app.audit import log


def result_for(status: int) -> str:
    if status < 400:
        return "success"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not_found"
    if status >= 500:
        return "error"
    return "rejected"


@dataclass
class AuditContext:
    request_id: str
    source: str | None
    method: str
    path: str
    action: str | None = None
    resource: str | None = None
    purpose: str | None = None
    client_id: str | None = None
    org_type: str | None = None
    org_id: str | None = None
    role: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    def event(self, status: int, result: str | None = None) -> log.AuditEvent:
        return log.AuditEvent(
            action=self.action or f"http.{self.method.lower()}",
            result=result or result_for(status),
            request_id=self.request_id,
            client_id=self.client_id,
            org_type=self.org_type,
            org_id=self.org_id,
            role=self.role,
            resource=self.resource or self.path,
            purpose=self.purpose,
            status=status,
            source=self.source,
            detail=self.detail or None,
        )

    def commit(self, session: Session, status: int = 200) -> None:
        """Append this request's entry in ``session``'s transaction and commit both together."""
        log.append(session, self.event(status))
        session.commit()
        self.written = True
