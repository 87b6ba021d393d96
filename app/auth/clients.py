"""Machine clients: organisations, scopes, hashed secrets, and client authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import plain_text
from app.auth import tokens
from app.models import Client, ClientAssertionUse


class OrgType(StrEnum):
    provider = "provider"
    municipality = "municipality"
    privacy_officer = "privacy_officer"
    admin = "admin"


SCOPES = ("consents:write", "records:write", "reports:read", "notes:write", "audit:read", "privacy:read", "admin")

#: What each kind of organisation may ever be granted, and what it gets by default.
ALLOWED_SCOPES: dict[OrgType, tuple[str, ...]] = {
    OrgType.provider: ("consents:write", "records:write", "reports:read", "notes:write"),
    OrgType.municipality: ("reports:read",),
    OrgType.privacy_officer: ("audit:read", "privacy:read"),
    OrgType.admin: ("admin", "privacy:read"),
}

# Used with fullmatch: with match, "$" would also match before a final newline ("12345678\n").
_AGB = re.compile(r"\d{8}")
_GM = re.compile(r"GM\d{4}")

# scrypt parameters (RFC 7914): 2^15 x 8 x 1 costs about 32 MiB and tens of milliseconds.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
#: At most this many scrypt runs at once (each holds 32 MiB): concurrent token requests queue
#: instead of growing the process by 32 MiB each.
SCRYPT_AT_ONCE = 4
_SCRYPT_SLOTS = threading.BoundedSemaphore(SCRYPT_AT_ONCE)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    with _SCRYPT_SLOTS:
        return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024)


class ClientError(ValueError):
    """A client cannot be made as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError, UnicodeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


#: What an unknown client's secret is checked against: our parameters, a random salt and a random
#: digest that no secret gives. One scrypt run, as for a known client with a wrong secret, so the
#: time taken does not tell which client ids exist.
_DUMMY_SALT, _DUMMY_DIGEST = (base64.b64encode(secrets.token_bytes(size)).decode() for size in (16, 64))
_DUMMY_HASH = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_DUMMY_SALT}${_DUMMY_DIGEST}"


def check_organisation(
    org_type: str, org_id: str, *, ttp_id: str, known_municipalities: Collection[str]
) -> OrgType:
    try:
        kind = OrgType(org_type)
    except ValueError:
        raise ClientError("org_type", f"must be one of {', '.join(t.value for t in OrgType)}") from None
    if kind is OrgType.provider and not _AGB.fullmatch(org_id):
        raise ClientError("org_id", "a provider is identified by its AGB code: 8 digits")
    if kind is OrgType.municipality:
        if not _GM.fullmatch(org_id):
            raise ClientError("org_id", "a municipality is identified by its CBS code: GM + 4 digits")
        if org_id not in known_municipalities:
            raise ClientError("org_id", f"unknown municipality code {org_id}")
    if kind in (OrgType.privacy_officer, OrgType.admin) and org_id != ttp_id:
        raise ClientError("org_id", f"privacy officers and admins belong to the TTP itself: use {ttp_id!r}")
    return kind


def check_scopes(kind: OrgType, scopes: Collection[str] | None) -> list[str]:
    allowed = ALLOWED_SCOPES[kind]
    if not scopes:
        return list(allowed)
    wrong = [s for s in scopes if s not in allowed]
    if wrong:
        raise ClientError("scope", f"{wrong[0]!r} cannot be granted to a {kind.value}; allowed: {', '.join(allowed)}")
    return sorted(set(scopes), key=SCOPES.index)


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str | None
    name: str
    org_type: str
    org_id: str
    scopes: list[str]


def create_client(
    session: Session,
    *,
    name: str,
    org_type: str,
    org_id: str,
    scopes: Collection[str] | None,
    ttp_id: str,
    known_municipalities: Collection[str],
    public_key_pem: str | None = None,
) -> NewClient:
    """Register a client. The secret is returned once and stored only as a scrypt hash."""
    if not name.strip():
        raise ClientError("name", "must not be empty")
    not_plain = plain_text.why_not(name)
    if not_plain:
        raise ClientError("name", not_plain)
    kind = check_organisation(org_type, org_id, ttp_id=ttp_id, known_municipalities=known_municipalities)
    granted = check_scopes(kind, scopes)
    if public_key_pem is not None and "PUBLIC KEY" not in public_key_pem:
        raise ClientError("public_key_pem", "must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
    client_id = f"{kind.value[:4]}-{secrets.token_hex(8)}"
    secret = None if public_key_pem else secrets.token_urlsafe(32)
    session.add(
        Client(
            client_id=client_id,
            name=name.strip(),
            org_type=kind.value,
            org_id=org_id,
            scopes=" ".join(granted),
            secret_hash=hash_secret(secret) if secret else None,
            public_key_pem=public_key_pem,
            active=True,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return NewClient(client_id, secret, name.strip(), kind.value, org_id, granted)


class AuthenticationFailed(Exception):
    """Client authentication failed; the message is safe to return."""


def authenticate_with_secret(session: Session, client_id: str, secret: str) -> Client:
    client = session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if client is None or not client.active or client.secret_hash is None:
        # Spend the same effort as a real check (one scrypt run), so timing does not reveal which ids exist.
        verify_secret(secret, _DUMMY_HASH)
        raise AuthenticationFailed("unknown client or wrong secret")
    if not verify_secret(secret, client.secret_hash):
        raise AuthenticationFailed("unknown client or wrong secret")
    return client


def authenticate_with_assertion(session: Session, assertion: str, audiences: list[str]) -> Client:
    try:
        client_id = tokens.unverified_assertion_subject(assertion)
    except tokens.TokenError as exc:
        raise AuthenticationFailed(str(exc)) from None
    client = session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if client is None or not client.active or not client.public_key_pem:
        raise AuthenticationFailed("unknown client or no public key registered for private_key_jwt")
    try:
        verified = tokens.verify_client_assertion(
            assertion, client_id=client.client_id, public_key_pem=client.public_key_pem, audiences=audiences
        )
    except tokens.TokenError as exc:
        raise AuthenticationFailed(str(exc)) from None
    now = datetime.now(UTC)
    session.execute(delete(ClientAssertionUse).where(ClientAssertionUse.expires_at < now))
    try:
        with session.begin_nested():
            session.add(
                ClientAssertionUse(
                    jti=f"{client.client_id}:{verified.jti}",
                    client_id=client.client_id,
                    expires_at=datetime.fromtimestamp(verified.expires_at + tokens.LEEWAY_SECONDS, UTC),
                )
            )
    except IntegrityError:
        raise AuthenticationFailed("the client assertion was used before (replay)") from None
    return client
