"""Periodic jobs that must run exactly once across every process and pod: a lease per job in the
database (``job_leases``), taken with one conditional UPDATE (or the first INSERT), so it works
the same on SQLite and PostgreSQL without a queue or a second engine.

A holder keeps its lease while it works and gives it back when done; a crashed holder's lease
runs out after ``seconds``, so the job is never stuck.

A scheduled run also claims its **period** (:func:`run_in_period`): the interval of the job's
length that holds now, counted from the Unix epoch so that every process agrees on it without
talking. The claim is part of the same UPDATE, and a claimed period is never claimed again: every
worker wakes at each period's start, one wins, the others find the period taken. So each job runs
at most once per period however many workers or pods run the schedule (and a run still going when
the next period starts makes that period pass, not run twice at once). A holder that crashes
mid-run loses its period; the next period's run does what was left.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit import log as audit_log
from app.models import JobLease

T = TypeVar("T")
#: This process's name as a lease holder.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(sessions: sessionmaker[Session], name: str, *, seconds: float, holder: str = HOLDER) -> bool:
    """Take the lease ``name`` for ``seconds`` unless another holder has it now (leaves the
    claimed period alone: for runs by hand, ``ttp releases publish`` and the like)."""
    return _take(sessions, name, seconds=seconds, holder=holder, period=None)


def _take(sessions: sessionmaker[Session], name: str, *, seconds: float, holder: str,
          period: datetime | None) -> bool:
    """The one conditional UPDATE (or the first INSERT) behind :func:`acquire` and
    :func:`claim_period`: the lease when it is free or ours, and ``period`` when it is newer."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    conditions = [JobLease.name == name, (JobLease.until < now) | (JobLease.holder == holder)]
    values: dict[str, Any] = {"holder": holder, "until": until}
    if period is not None:
        conditions.append(JobLease.period_start.is_(None) | (JobLease.period_start < period))
        values["period_start"] = period
    with sessions() as session:
        result = session.execute(update(JobLease).where(*conditions).values(**values))
        if not cast(CursorResult[Any], result).rowcount:
            if session.get(JobLease, name) is not None:
                session.rollback()
                return False
            session.add(JobLease(name=name, **values))
        try:
            session.commit()
        except IntegrityError:  # another process inserted it first
            session.rollback()
            return False
    return True


def period_start(at: datetime, interval_seconds: float) -> datetime:
    """The start of the period of ``interval_seconds`` that holds ``at`` (periods from the epoch)."""
    stamp = at.timestamp()
    return datetime.fromtimestamp(stamp - stamp % interval_seconds, UTC)


def seconds_to_next_period(interval_seconds: float, *, at: datetime | None = None) -> float:
    stamp = (at or datetime.now(UTC)).timestamp()
    return interval_seconds - stamp % interval_seconds


def claim_period(sessions: sessionmaker[Session], name: str, period: datetime, *, seconds: float,
                 holder: str = HOLDER) -> bool:
    """Take the lease ``name`` for ``seconds`` and claim ``period`` with it, unless another holder
    has the lease now or any holder already claimed this period (or a later one)."""
    return _take(sessions, name, seconds=seconds, holder=holder, period=period)


def release(sessions: sessionmaker[Session], name: str, *, holder: str = HOLDER) -> None:
    """Give the lease back (its row stays: it remembers the newest claimed period)."""
    with sessions() as session:
        session.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == holder)
                        .values(until=datetime.now(UTC) - timedelta(microseconds=1)))
        session.commit()


def run_once(sessions: sessionmaker[Session], name: str, job: Callable[[], T], *, seconds: float = 3600,
             holder: str = HOLDER) -> tuple[bool, T | None]:
    """Run ``job`` if this process gets the lease; ``(False, None)`` when another holder runs it."""
    if not acquire(sessions, name, seconds=seconds, holder=holder):
        return False, None
    try:
        return True, job()
    finally:
        release(sessions, name, holder=holder)


def run_in_period(sessions: sessionmaker[Session], name: str, interval_seconds: float,
                  job: Callable[[datetime], T], *, seconds: float = 3600, holder: str = HOLDER,
                  at: datetime | None = None) -> tuple[bool, T | None]:
    """Run ``job(period_start)`` if this process claims the current period of ``name``;
    ``(False, None)`` when another holder runs it now or the period was already run."""
    period = period_start(at or datetime.now(UTC), interval_seconds)
    if not claim_period(sessions, name, period, seconds=seconds, holder=holder):
        return False, None
    try:
        return True, job(period)
    finally:
        release(sessions, name, holder=holder)


def record_run(session: Session, name: str, period: datetime, interval_seconds: float, *, ttp_id: str,
               **outcome: int) -> None:
    """The audit entry of one scheduled run (``job.run``), in ``session``'s transaction: which job,
    which period, and what it did, as counts only."""
    audit_log.append(session, audit_log.AuditEvent(
        action="job.run", result="success", org_type="admin", org_id=ttp_id, source="scheduler",
        resource=f"jobs/{name}",
        detail={"job": name, "period_start": period.isoformat(), "interval_seconds": interval_seconds,
                "holder_pid": os.getpid(), **outcome},
    ))
