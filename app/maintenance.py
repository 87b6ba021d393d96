"""Scheduled jobs: retention, the settling of pending linkage indicators, and releases.

The service runs :func:`loop` (hourly housekeeping) and :func:`release_loop` (every ten minutes:
make the releases the calendar says are due) in the background; each run takes a lease in the
database first (:mod:`app.jobs`), so with several workers or pods every job runs exactly once.
``ttp retention run`` and ``ttp releases publish`` run the same by hand. All are audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from app import db, jobs
from app.audit import log as audit_log
from app.audit.checkpoint_store import scheduled_checkpoints
from app.records import ingestion
from app.reports.releases import publish_due
from app.runtime import Runtime

log = logging.getLogger("ttp.maintenance")
INTERVAL_SECONDS = 3600
RELEASE_INTERVAL_SECONDS = 600


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


def housekeeping(runtime: Runtime) -> int | None:
    """Settle pending linkage, then retention, if no other process is doing it now (at start and
    hourly); how many records were removed (None: another process has the lease)."""
    def run() -> int:
        settle(runtime)
        return retention(runtime, audit_nothing=False)

    _, removed = jobs.run_once(runtime.sessions, "maintenance", run)
    return removed


def publish_releases(runtime: Runtime) -> int:
    """Make the releases due now, if no other process is making them; how many were published."""
    ran, made = jobs.run_once(runtime.sessions, "releases",
                              lambda: publish_due(runtime.sessions, runtime.publisher))
    return sum(1 for m in made or [] if m.release_id) if ran else 0


async def release_loop(runtime: Runtime, interval_seconds: float = RELEASE_INTERVAL_SECONDS,
                       first_run_seconds: float | None = None) -> None:
    """Every ``interval_seconds`` publish what is due (the first run ``first_run_seconds`` after
    start, default one interval)."""
    delay = interval_seconds if first_run_seconds is None else first_run_seconds
    while True:
        await asyncio.sleep(delay)
        delay = interval_seconds
        try:
            published = await anyio.to_thread.run_sync(publish_releases, runtime)
            if published:
                log.info("releases published", extra={"count": published})
        except Exception as exc:  # keep the scheduler alive; the next run retries
            log.error("release job failed", extra={"error_type": type(exc).__name__})


@asynccontextmanager
async def scheduled_jobs(runtime: Runtime, *, publish_on_start: bool = False) -> AsyncIterator[None]:
    """Every periodic job for the duration of the block (a service's lifespan, or ``ttp worker``):
    housekeeping at once (a service restarted more often than hourly still purges), then hourly;
    signed audit checkpoints; releases. Each run takes its lease first, so with several processes
    each job runs once."""
    await anyio.to_thread.run_sync(housekeeping, runtime)
    async with scheduled_checkpoints(runtime):
        tasks = [asyncio.create_task(loop(runtime)),
                 asyncio.create_task(release_loop(runtime, first_run_seconds=2.0 if publish_on_start else None))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()


async def loop(runtime: Runtime, interval_seconds: float = INTERVAL_SECONDS) -> None:
    """Every ``interval_seconds`` (the first run one interval after start): settle, then retention.
    A scheduled retention run that removed nothing leaves no audit entry (an hourly no-op is noise)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            removed = await anyio.to_thread.run_sync(housekeeping, runtime)
            if removed:
                log.info("retention", extra={"count": removed})
        except Exception as exc:  # keep the scheduler alive; the next run retries
            log.error("maintenance failed", extra={"error_type": type(exc).__name__})
