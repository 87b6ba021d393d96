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
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

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


def _aware(at: datetime | None) -> datetime | None:
    return at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC)


def previous_secret_until(client: Client, grace: timedelta) -> datetime | None:
    """Until when a rotated-out secret is still accepted (None: there is none, or its grace is over)."""
    rotated = _aware(client.secret_rotated_at)
    if client.previous_secret_hash is None or rotated is None:
        return None
    return rotated + grace


def authenticate_with_secret(
    session: Session, client_id: str, secret: str, *, grace: timedelta = timedelta(0), now: datetime | None = None
) -> Client:
    """The client whose id and secret these are; during the grace after a rotation the previous
    secret is accepted too. Disabled and unknown clients fail like a wrong secret."""
    client = session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
    if client is None or not client.active or client.secret_hash is None:
        # Spend the same effort as a real check (one scrypt run), so timing does not reveal which ids exist.
        verify_secret(secret, _DUMMY_HASH)
        raise AuthenticationFailed("unknown client or wrong secret")
    if verify_secret(secret, client.secret_hash):
        return client
    until = previous_secret_until(client, grace)
    now = now or datetime.now(UTC)
    if until is not None and now < until and client.previous_secret_hash is not None \
            and verify_secret(secret, client.previous_secret_hash):
        return client
    raise AuthenticationFailed("unknown client or wrong secret")


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


# ---- the lifecycle: disable, enable, rotate the secret, set the public key, last use ------------
def by_client_id(session: Session, client_id: str, *, for_update: bool = False) -> Client | None:
    query = select(Client).where(Client.client_id == client_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def is_active(session: Session, client_id: str) -> bool:
    """Whether ``client_id`` exists and is enabled: checked for every access token, so that a
    disabled client's unexpired tokens stop working at once, in every process."""
    active = session.execute(select(Client.active).where(Client.client_id == client_id)).scalar_one_or_none()
    return bool(active)


def set_active(session: Session, client: Client, active: bool) -> bool:
    """Disable or enable; whether it changed. Disabling ends its tokens at once (every request
    checks :func:`is_active`); enabling makes its unexpired tokens valid again."""
    changed = client.active != active
    client.active = active
    session.flush()
    return changed


@dataclass(frozen=True)
class RotatedSecret:
    client_id: str
    client_secret: str
    previous_valid_until: datetime | None  # None: the client had no secret (a private_key_jwt client)


def rotate_secret(session: Session, client: Client, grace: timedelta, now: datetime | None = None) -> RotatedSecret:
    """A new secret (returned once, stored as a hash); the current one keeps working for ``grace``.
    A second rotation within the grace ends the first old secret (only one old secret is kept)."""
    now = now or datetime.now(UTC)
    secret = secrets.token_urlsafe(32)
    had = client.secret_hash
    client.previous_secret_hash = had if had and grace > timedelta(0) else None
    client.secret_rotated_at = now
    client.secret_hash = hash_secret(secret)
    session.flush()
    return RotatedSecret(client.client_id, secret, now + grace if client.previous_secret_hash else None)


def check_public_key(public_key_pem: str) -> str:
    """A PEM public key for private_key_jwt: EC P-256 (ES256) or RSA of at least 2048 bits."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    text = public_key_pem.strip()
    try:
        key = serialization.load_pem_public_key(text.encode())
    except (ValueError, TypeError, UnicodeError):
        raise ClientError("public_key_pem", "must be a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise ClientError("public_key_pem", "an EC key must be on P-256 (ES256)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ClientError("public_key_pem", "an RSA key must have at least 2048 bits")
    else:
        raise ClientError("public_key_pem", "must be an EC P-256 or an RSA public key")
    return text + "\n"


def set_public_key(session: Session, client: Client, public_key_pem: str) -> bool:
    """Register or replace the client's private_key_jwt key; whether it replaced one."""
    text = check_public_key(public_key_pem)
    replaced = client.public_key_pem is not None
    client.public_key_pem = text
    session.flush()
    return replaced


def auth_methods(client: Client) -> list[str]:
    return [m for m, on in (("client_secret", client.secret_hash is not None),
                            ("private_key_jwt", client.public_key_pem is not None)) if on]


def list_clients(session: Session, now: datetime, *, grace: timedelta) -> list[dict[str, Any]]:
    """Every client with its state and last use (never a secret or a key)."""
    from app.auth import lockout
    from app.models import ClientAuthFailure

    locks = {key: lockout.aware(until) for key, until in session.execute(
        select(ClientAuthFailure.key, ClientAuthFailure.locked_until).where(
            ClientAuthFailure.locked_until.is_not(None)))}
    rows: list[dict[str, Any]] = []
    for c in session.execute(select(Client).order_by(Client.id)).scalars():
        until = locks.get(lockout.key_for(c.client_id))
        previous = previous_secret_until(c, grace)
        rows.append({
            "client_id": c.client_id, "name": c.name, "org_type": c.org_type, "org_id": c.org_id,
            "scopes": c.scopes.split(), "active": c.active, "auth_methods": auth_methods(c),
            "created_at": _aware(c.created_at),
            "last_token_at": _aware(c.last_token_at),
            "secret_rotated_at": _aware(c.secret_rotated_at),
            "previous_secret_valid_until": previous if previous and previous > now else None,
            "locked_until": until if until and until > now else None,
        })
    return rows
