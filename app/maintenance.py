"""Scheduled jobs: retention, the settling of pending linkage indicators, and releases.

The service runs each job at the start of every one of its periods (housekeeping hourly, the
releases the calendar says are due every ten minutes, audit checkpoints every five; the
``TTP_*_INTERVAL_SECONDS`` settings) in the background; each run claims its period in the
database first (:mod:`app.jobs`), so with several workers or pods every job runs once per period,
and each run is a ``job.run`` audit entry. ``ttp retention run`` and ``ttp releases publish`` run
the same by hand. All are audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import anyio

from app import db, jobs
from app.audit import log as audit_log
from app.audit.checkpoint_store import scheduled_checkpoints
from app.records import ingestion
from app.reports.releases import publish_due
from app.runtime import Runtime

log = logging.getLogger("ttp.maintenance")


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


def housekeeping_at_start(runtime: Runtime) -> int | None:
    """At a process's start: settle, then retention, unless another process is doing it now (a
    restarted service purges what passed retention at once, not at the next period's start).
    Outside the periods, so it is no ``job.run``; retention audits what it removed."""
    def run() -> int:
        settle(runtime)
        return retention(runtime, audit_nothing=False)

    _, removed = jobs.run_once(runtime.sessions, "maintenance", run)
    return removed


def housekeeping(runtime: Runtime) -> int | None:
    """Settle pending linkage, then retention, once per housekeeping period across every process
    (at each period's start); how many records were removed (None: another process has this
    period)."""
    interval = runtime.settings.housekeeping_interval_seconds

    def run(period: datetime) -> int:
        settled = settle(runtime)
        removed = retention(runtime, audit_nothing=False)
        with db.session_scope(runtime.sessions) as session:
            jobs.record_run(session, "maintenance", period, interval, ttp_id=runtime.settings.ttp_id,
                            records_removed=removed, values_settled=settled)
        return removed

    _, removed = jobs.run_in_period(runtime.sessions, "maintenance", interval, run)
    return removed


def publish_releases(runtime: Runtime) -> int:
    """Make the releases due now, once per release period across every process; how many were
    published (0 when another process has this period)."""
    interval = runtime.settings.release_interval_seconds

    def run(period: datetime) -> int:
        made = publish_due(runtime.sessions, runtime.publisher)
        published = sum(1 for m in made if m.release_id)
        with db.session_scope(runtime.sessions) as session:
            jobs.record_run(session, "releases", period, interval, ttp_id=runtime.settings.ttp_id,
                            releases_published=published)
        return published

    _, published = jobs.run_in_period(runtime.sessions, "releases", interval, run)
    return published or 0


async def every_period(name: str, interval_seconds: float, run: Callable[[Runtime], object], runtime: Runtime,
                       *, at_start: float | None = None) -> None:
    """Call ``run(runtime)`` (in a thread) at the start of every period of ``interval_seconds``,
    and ``at_start`` seconds after start when given. Each ``run`` claims its period first, so with
    several processes one of them does the work. A failed run is logged; the next period retries."""
    delay = jobs.seconds_to_next_period(interval_seconds) if at_start is None else at_start
    while True:
        await asyncio.sleep(delay)
        try:
            await anyio.to_thread.run_sync(run, runtime)
        except Exception as exc:  # keep the scheduler alive; the next period retries
            log.error("scheduled job failed", extra={"job": name, "error_type": type(exc).__name__})
        delay = jobs.seconds_to_next_period(interval_seconds)


@asynccontextmanager
async def scheduled_jobs(runtime: Runtime, *, publish_on_start: bool = False) -> AsyncIterator[None]:
    """Every periodic job for the duration of the block (a service's lifespan, or ``ttp worker``):
    housekeeping at once, then at every period's start; signed audit checkpoints; releases
    (``publish_on_start``: two seconds after start too). Each periodic run claims its period first,
    so with several processes each job runs once per period."""
    settings = runtime.settings
    await anyio.to_thread.run_sync(housekeeping_at_start, runtime)
    async with scheduled_checkpoints(runtime, settings.checkpoint_interval_seconds):
        tasks = [
            asyncio.create_task(every_period("maintenance", settings.housekeeping_interval_seconds, housekeeping,
                                             runtime)),
            asyncio.create_task(every_period("releases", settings.release_interval_seconds, publish_releases,
                                             runtime, at_start=2.0 if publish_on_start else None)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
