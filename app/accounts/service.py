"""Accounts: made by an operator (``ttp users add``), bound to one organisation like a machine
client, never by self-registration; and the two login steps, with lockout.

Lockout is counted server-side per account: :data:`MAX_FAILURES` failed passwords or codes in a
row lock the account for :data:`LOCKOUT`; while locked even the right password is refused. An
address that has no account gets the same answers (and is locked the same way, in this process),
so the login form does not tell which addresses exist.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts import passwords, sessions, totp
from app.accounts.keys import AccountKeys, SealedSecretError
from app.auth.clients import ClientError, OrgType, check_organisation
from app.models import UserAccount

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
#: The kinds of organisation that have web pages (admins use the command line and the API).
WEB_ORG_TYPES = (OrgType.municipality, OrgType.provider, OrgType.privacy_officer)
_EMAIL = re.compile(r"[a-z0-9._%+'-]{1,64}@[a-z0-9-]+(\.[a-z0-9-]+)+")


class AccountError(ValueError):
    """An account cannot be made or changed as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def normalise_email(email: str) -> str:
    """Trimmed, NFC, lower case; refused unless it looks like an address."""
    value = unicodedata.normalize("NFC", email).strip().lower()
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise AccountError("email", "not an e-mail address")
    return value


def email_domain(email: str) -> str:
    """The part of an address the audit log may hold (never the local part)."""
    return email.strip().lower().rpartition("@")[2][:100]


def _aware(at: datetime | None) -> datetime | None:
    return at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewAccount:
    account_id: str
    email: str
    org_type: str
    org_id: str
    password: str | None  # shown once
    totp_secret: str | None  # shown once
    totp_uri: str | None


def create_account(
    session: Session,
    *,
    email: str,
    org_type: str,
    org_id: str,
    ttp_id: str,
    known_municipalities: Collection[str],
    keys: AccountKeys,
    password: str | None = None,
    oidc_issuer: str | None = None,
    oidc_subject: str | None = None,
) -> NewAccount:
    """Make an account. Without OIDC it gets a password (generated when none is given) and a TOTP
    secret; both are returned once and stored only as a hash / sealed."""
    address = normalise_email(email)
    try:
        kind = check_organisation(org_type, org_id, ttp_id=ttp_id, known_municipalities=known_municipalities)
    except ClientError as exc:
        raise AccountError(exc.field, exc.reason) from None
    if kind not in WEB_ORG_TYPES:
        raise AccountError("org_type", f"web accounts are for {', '.join(t.value for t in WEB_ORG_TYPES)}")
    if session.execute(select(UserAccount.id).where(UserAccount.email == address)).first():
        raise AccountError("email", "an account with this address exists")
    if (oidc_issuer is None) != (oidc_subject is None):
        raise AccountError("oidc", "give both the issuer and the subject, or neither")
    local = oidc_issuer is None
    if local and password is None:
        password = passwords.generate_password()
    if password is not None:
        problem = passwords.policy_problem(password, address)
        if problem:
            raise AccountError("password", problem)
    account_id = f"acct-{secrets.token_hex(8)}"
    secret = totp.new_secret() if local else None
    now = datetime.now(UTC)
    account = UserAccount(
        account_id=account_id, email=address, org_type=kind.value, org_id=org_id,
        password_hash=passwords.hash_password(password) if password else None,
        failed_attempts=0, disabled=False, oidc_issuer=oidc_issuer, oidc_subject=oidc_subject,
        created_at=now, password_changed_at=now if password else None,
    )
    if secret:
        account.totp_kek_id, account.totp_sealed = keys.seal(secret, account_id)
    session.add(account)
    session.flush()
    return NewAccount(account_id, address, kind.value, org_id, password, secret,
                      totp.provisioning_uri(secret, address) if secret else None)


def by_email(session: Session, email: str, *, for_update: bool = False) -> UserAccount | None:
    """The account of ``email``; ``for_update`` locks its row (PostgreSQL) until the transaction
    ends, so that concurrent attempts count every failure and a code is used once."""
    try:
        address = normalise_email(email)
    except AccountError:
        return None
    query = select(UserAccount).where(UserAccount.email == address)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def by_account_id(session: Session, account_id: str) -> UserAccount | None:
    return session.execute(select(UserAccount).where(UserAccount.account_id == account_id)).scalar_one_or_none()


def set_disabled(session: Session, account: UserAccount, disabled: bool = True) -> None:
    account.disabled = disabled
    if disabled:
        sessions.end_all(session, account)
    session.flush()


def reset_password(session: Session, account: UserAccount, password: str | None = None) -> str:
    """A new password (generated when none is given); ends the account's sessions and lifts a lock."""
    password = password or passwords.generate_password()
    problem = passwords.policy_problem(password, account.email)
    if problem:
        raise AccountError("password", problem)
    account.password_hash = passwords.hash_password(password)
    account.password_changed_at = datetime.now(UTC)
    account.failed_attempts, account.locked_until = 0, None
    sessions.end_all(session, account)
    session.flush()
    return password


def set_totp_secret(session: Session, account: UserAccount, secret: str, keys: AccountKeys) -> None:
    account.totp_kek_id, account.totp_sealed = keys.seal(secret, account.account_id)
    account.totp_last_step = None
    session.flush()


def totp_secret(account: UserAccount, keys: AccountKeys) -> str | None:
    if account.totp_sealed is None or account.totp_kek_id is None:
        return None
    return keys.open(account.totp_kek_id, bytes(account.totp_sealed), account.account_id)


def reseal_totp_secrets(session: Session, keys: AccountKeys) -> int:
    """Seal every TOTP secret under the active key-encryption key (``ttp keys rewrap``), so that
    an old one can be retired; how many moved."""
    moved = session.execute(select(UserAccount).where(
        UserAccount.totp_sealed.is_not(None), UserAccount.totp_kek_id != keys.active.key_id)).scalars().all()
    for account in moved:
        secret = totp_secret(account, keys)
        if secret is not None:
            account.totp_kek_id, account.totp_sealed = keys.seal(secret, account.account_id)
    session.flush()
    return len(moved)


# ---- the login steps ---------------------------------------------------------------------------
class Outcome(StrEnum):
    ok = "ok"
    wrong = "wrong"  # wrong password or code, or no such account
    locked = "locked"  # locked now or already


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    account: UserAccount | None
    reason: str  # for the audit log: ok, unknown_account, disabled, wrong_password, wrong_code, locked, ...
    locked_now: bool = False


class _UnknownAddresses:
    """Failures for addresses without an account, so that they lock like real ones (per process,
    bounded; keyed by a hash, never the address)."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[str, tuple[int, datetime | None]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    @staticmethod
    def _key(email: str) -> str:
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()

    def locked(self, email: str, now: datetime) -> bool:
        with self._lock:
            _count, until = self._seen.get(self._key(email), (0, None))
            return until is not None and until > now

    def fail(self, email: str, now: datetime) -> bool:
        with self._lock:
            key = self._key(email)
            count, _until = self._seen.pop(key, (0, None))
            count += 1
            until = now + LOCKOUT if count >= MAX_FAILURES else None
            self._seen[key] = (0 if until else count, until)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return until is not None

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


UNKNOWN_ADDRESSES = _UnknownAddresses()


def is_locked(account: UserAccount, now: datetime) -> bool:
    until = _aware(account.locked_until)
    return until is not None and until > now


def _fail(account: UserAccount, reason: str, now: datetime) -> Attempt:
    account.failed_attempts = (account.failed_attempts or 0) + 1
    if account.failed_attempts >= MAX_FAILURES:
        account.locked_until = now + LOCKOUT
        account.failed_attempts = 0
        return Attempt(Outcome.locked, account, reason, locked_now=True)
    return Attempt(Outcome.wrong, account, reason)


def check_password(session: Session, email: str, password: str, now: datetime | None = None) -> Attempt:
    """Step one. ``ok`` means: go on to the code (the failure count is reset only after it)."""
    now = now or datetime.now(UTC)
    account = by_email(session, email, for_update=True)
    if account is None or account.password_hash is None:
        passwords.spend_like_a_check(password)
        if UNKNOWN_ADDRESSES.locked(email, now):
            return Attempt(Outcome.locked, account, "locked")
        locked_now = UNKNOWN_ADDRESSES.fail(email, now)
        reason = "unknown_account" if account is None else "no_password"
        return Attempt(Outcome.locked if locked_now else Outcome.wrong, account, reason, locked_now=locked_now)
    if is_locked(account, now):
        return Attempt(Outcome.locked, account, "locked")
    if account.disabled:
        passwords.spend_like_a_check(password)
        return Attempt(Outcome.wrong, account, "disabled")
    if not passwords.verify_password(password, account.password_hash):
        attempt = _fail(account, "wrong_password", now)
        session.flush()
        return attempt
    if passwords.HASHER.check_needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password)
    session.flush()
    return Attempt(Outcome.ok, account, "password_ok")


def check_code(session: Session, account: UserAccount, code: str, keys: AccountKeys,
               now: datetime | None = None) -> Attempt:
    """Step two: the TOTP code, once per time step. A wrong code counts as a failure."""
    now = now or datetime.now(UTC)
    session.refresh(account, with_for_update=True)  # one code per step, even when two arrive at once
    if is_locked(account, now):
        return Attempt(Outcome.locked, account, "locked")
    if account.disabled:
        return Attempt(Outcome.wrong, account, "disabled")
    try:
        secret = totp_secret(account, keys)
    except SealedSecretError:
        secret = None
    step = totp.accepted_step(secret, code, last_step=account.totp_last_step, now=now.timestamp()) if secret else None
    if step is None:
        attempt = _fail(account, "wrong_code", now)
        session.flush()
        return attempt
    logged_in(account, now)
    account.totp_last_step = step
    session.flush()
    return Attempt(Outcome.ok, account, "ok")


def logged_in(account: UserAccount, now: datetime) -> None:
    account.failed_attempts = 0
    account.locked_until = None
    account.last_login_at = now
