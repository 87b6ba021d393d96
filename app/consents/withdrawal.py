"""Withdrawing a consent: the consent is marked withdrawn and the person's records leave, at once.

One use case, two owners: the consent registry records the withdrawal, ingestion removes the
person's records of that provider and their counts. Both happen in the caller's transaction, so
a withdrawal takes effect everywhere or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.consents import registry
from app.models import ConsentRecord
from app.records import ingestion


def withdraw_consent(session: Session, records: ingestion.Context, row: ConsentRecord,
                     at: datetime | None = None) -> dict[str, int]:
    """Withdraw ``row`` and remove what flowed under it; counts for the audit entry ({} when it
    was already withdrawn: safe to retry)."""
    if not registry.withdraw(row, records.vault, at):
        return {}
    removed = ingestion.remove_person(session, records, provider_id=row.provider_id, pseudonym=row.pseudonym)
    return {"records_removed": removed}
