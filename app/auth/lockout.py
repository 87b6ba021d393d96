"""The lockout after repeated failed client authentications, kept in the database.

A row per client id that was tried, keyed by the SHA-256 of the id (never the id itself: unknown
ids are attacker-chosen text), so that it holds across every API process and pod, and so that an
unknown client id counts and locks exactly like a real one (the answers never reveal whether a
client exists). ``failed_authentications`` failures in a row lock the id for ``lockout_minutes``;
even the right secret is refused meanwhile. A success clears the count; a failure long ago (older
than the lockout) starts a new count. On PostgreSQL the row is locked while it is counted, so that
concurrent failures are each counted once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import ClientAuthFailure
from app.privacy.configuration import Limits


def key_for(client_id: str) -> str:
    return hashlib.sha256(client_id.encode("utf-8", "surrogatepass")).hexdigest()


def aware(at: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; they were written as UTC."""
    return at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC)


def locked_until(session: Session, client_id: str, now: datetime) -> datetime | None:
    """Until when ``client_id`` is locked, or None when it is not."""
    until = session.execute(
        select(ClientAuthFailure.locked_until).where(ClientAuthFailure.key == key_for(client_id))
    ).scalar_one_or_none()
    until = aware(until)
    return until if until is not None and until > now else None


@dataclass(frozen=True)
class Failure:
    failures: int
    locked_until: datetime | None  # set when this failure locked the id


def _row_for_update(session: Session, key: str) -> ClientAuthFailure | None:
    return session.execute(
        select(ClientAuthFailure).where(ClientAuthFailure.key == key).with_for_update()
    ).scalar_one_or_none()


def record_failure(session: Session, client_id: str, limits: Limits, now: datetime) -> Failure:
    """Count one failed authentication of ``client_id`` (in ``session``'s transaction)."""
    key = key_for(client_id)
    window = timedelta(minutes=limits.lockout_minutes)
    row = _row_for_update(session, key)
    if row is None:
        try:
            with session.begin_nested():
                session.add(ClientAuthFailure(key=key, failures=0, last_failure_at=now))
        except IntegrityError:  # another process made it first: count on its row
            pass
        row = _row_for_update(session, key)
        assert row is not None
    last = aware(row.last_failure_at)
    until = aware(row.locked_until)
    if (until is not None and until <= now) or (until is None and last is not None and last < now - window):
        row.failures, row.locked_until = 0, None  # a lock that ran out, or failures long ago: start again
    row.failures += 1
    row.last_failure_at = now
    locked_now = None
    if row.failures >= limits.failed_authentications and row.locked_until is None:
        row.locked_until = locked_now = now + window
    session.flush()
    return Failure(row.failures, locked_now)


def clear(session: Session, client_id: str) -> None:
    """A successful authentication: forget the failures (a lock is checked before, so none is lifted)."""
    session.execute(delete(ClientAuthFailure).where(ClientAuthFailure.key == key_for(client_id)))


def unlock(session: Session, client_id: str) -> bool:
    """Lift a lockout (``ttp clients enable`` does); whether there was anything to lift."""
    result = session.execute(delete(ClientAuthFailure).where(ClientAuthFailure.key == key_for(client_id)))
    return bool(getattr(result, "rowcount", 0))


def purge(session: Session, now: datetime, limits: Limits) -> None:
    """Forget rows whose failures and lock are over (they would start again anyway)."""
    old = now - timedelta(minutes=limits.lockout_minutes)
    session.execute(delete(ClientAuthFailure).where(
        ClientAuthFailure.last_failure_at < old,
        (ClientAuthFailure.locked_until.is_(None)) | (ClientAuthFailure.locked_until < now),
    ))
