"""Scheduled housekeeping: retention and the settling of pending linkage indicators.

The service runs :func:`loop` in the background (hourly); ``ttp retention run`` runs
:func:`retention` by hand. Both are audited with counts only.
"""

from __future__ import annotations

import asyncio
import logging

import anyio

from app import db
from app.audit import log as audit_log
from app.records import ingestion
from app.runtime import Runtime

log = logging.getLogger("ttp.maintenance")
INTERVAL_SECONDS = 3600


def retention(runtime: Runtime, *, source: str = "scheduler", audit_nothing: bool = True) -> int:
    """Remove the records past retention and their counts; audit what was done (counts only)."""
    with db.session_scope(runtime.sessions) as session:
        removed = ingestion.purge_expired(session, runtime.records)
        if not removed and not audit_nothing:
            return 0
        audit_log.append(session, audit_log.AuditEvent(
            action="retention.run", result="success", org_type="admin", org_id=runtime.settings.ttp_id,
            source=source, resource="records",
            detail={"records_removed": removed,
                    "records_months": runtime.privacy.configuration.retention.records_months},
        ))
    return removed


def settle(runtime: Runtime) -> int:
    """Let pending linkage indicators turn once their window passed (at most once a day)."""
    with db.session_scope(runtime.sessions) as session:
        ingestion.lock(session)
        return ingestion.settle(session, runtime.records)


async def loop(runtime: Runtime, interval_seconds: float = INTERVAL_SECONDS) -> None:
    """Every ``interval_seconds`` (the first run one interval after start): settle, then retention.
    A scheduled retention run that removed nothing leaves no audit entry (an hourly no-op is noise)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await anyio.to_thread.run_sync(settle, runtime)
            removed = await anyio.to_thread.run_sync(lambda: retention(runtime, audit_nothing=False))
            if removed:
                log.info("retention", extra={"count": removed})
        except Exception as exc:  # noqa: BLE001 - keep the scheduler alive; the next run retries
            log.error("maintenance failed", extra={"error_type": type(exc).__name__})
