"""Web sessions, kept server-side.

A session id is 32 random bytes; the database stores only its SHA-256 (a copy of the database
gives no usable session), the cookie carries the id signed (:mod:`app.accounts.keys`). A session
ends after :data:`IDLE` without a request, after :data:`ABSOLUTE` in any case, and at logout
(the row is deleted, so the old cookie is worthless). Between password and TOTP a session is in
stage ``code`` and lives :data:`CODE_STAGE` only; passing the second factor replaces it with a
new ``full`` session (a new id: no session fixation).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.models import UserAccount, WebSession

IDLE = timedelta(minutes=15)
ABSOLUTE = timedelta(hours=8)
CODE_STAGE = timedelta(minutes=5)
FULL, CODE = "full", "code"


def id_hash(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode()).hexdigest()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite returns naive UTC


@dataclass(frozen=True)
class Started:
    raw_id: str  # goes into the cookie (signed); never stored
    csrf_token: str


def start(session: Session, account: UserAccount, stage: str, now: datetime | None = None) -> Started:
    now = now or datetime.now(UTC)
    raw_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    lifetime = CODE_STAGE if stage == CODE else ABSOLUTE
    session.add(WebSession(id_hash=id_hash(raw_id), account_pk=account.id, stage=stage, csrf_token=csrf,
                           created_at=now, last_seen_at=now, expires_at=now + lifetime))
    session.flush()
    return Started(raw_id, csrf)


def find(session: Session, raw_id: str, stage: str, now: datetime | None = None,
         *, touch: bool = True) -> tuple[WebSession, UserAccount] | None:
    """The live session ``raw_id`` in ``stage`` and its account, or None (expired ones are removed)."""
    now = now or datetime.now(UTC)
    row = session.get(WebSession, id_hash(raw_id))
    if row is None or row.stage != stage:
        return None
    idle = IDLE if stage == FULL else CODE_STAGE
    if _aware(row.expires_at) <= now or _aware(row.last_seen_at) + idle <= now:
        session.delete(row)
        session.flush()
        return None
    account = session.get(UserAccount, row.account_pk)
    if account is None or account.disabled:
        session.delete(row)
        session.flush()
        return None
    if touch:
        row.last_seen_at = now
        session.flush()
    return row, account


def end(session: Session, raw_id: str) -> bool:
    """Delete the session; True when there was one."""
    result = session.execute(delete(WebSession).where(WebSession.id_hash == id_hash(raw_id)))
    return bool(getattr(result, "rowcount", 0))


def end_all(session: Session, account: UserAccount) -> None:
    """End every session of ``account`` (disabled, password reset)."""
    session.execute(delete(WebSession).where(WebSession.account_pk == account.id))


def purge_expired(session: Session, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    stale = session.execute(
        select(WebSession.id_hash).where(WebSession.expires_at <= now)
    ).scalars().all()
    if stale:
        session.execute(delete(WebSession).where(WebSession.id_hash.in_(stale)))
    return len(stale)
