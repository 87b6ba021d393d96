"""Periodic jobs that must run exactly once across every process and pod: a lease per job in the
database (``job_leases``), taken with one conditional UPDATE (or the first INSERT), so it works
the same on SQLite and PostgreSQL without a queue or a second engine.

A holder keeps its lease while it works and gives it back when done; a crashed holder's lease
runs out after ``seconds``, so the job is never stuck.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.models import JobLease

T = TypeVar("T")
#: This process's name as a lease holder.
HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(sessions: sessionmaker[Session], name: str, *, seconds: float, holder: str = HOLDER) -> bool:
    """Take the lease ``name`` for ``seconds`` unless another holder has it now."""
    now = datetime.now(UTC)
    until = now + timedelta(seconds=seconds)
    with sessions() as session:
        result = session.execute(
            update(JobLease).where(JobLease.name == name, (JobLease.until < now) | (JobLease.holder == holder))
            .values(holder=holder, until=until)
        )
        taken = cast(CursorResult[Any], result).rowcount
        if not taken:
            if session.get(JobLease, name) is not None:
                session.rollback()
                return False
            session.add(JobLease(name=name, holder=holder, until=until))
        try:
            session.commit()
        except IntegrityError:  # another process inserted it first
            session.rollback()
            return False
    return True


def release(sessions: sessionmaker[Session], name: str, *, holder: str = HOLDER) -> None:
    with sessions() as session:
        session.execute(delete(JobLease).where(JobLease.name == name, JobLease.holder == holder))
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
