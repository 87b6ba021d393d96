"""JSON Web Tokens: the only module that touches python-jose.

Access tokens are signed with ES256 by the TTP's token-signing key. Verification accepts exactly
the algorithms in the allow-list, a known ``kid``, our ``iss`` and ``aud``, and requires ``exp``,
``iat``, ``jti``, ``sub``, ``scope``, ``org_type`` and ``org_id``. Client assertions for
``private_key_jwt`` are verified against the client's registered public key with their own
allow-list.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwk, jwt
from jose.exceptions import JOSEError

#: Algorithms the TTP signs and accepts for access tokens.
ACCESS_TOKEN_ALGORITHMS = ("ES256",)
#: Algorithms accepted for client assertions (private_key_jwt).
CLIENT_ASSERTION_ALGORITHMS = ("ES256", "RS256", "PS256")
#: Clock skew tolerated on ``exp``/``nbf``/``iat``.
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti", "scope", "org_type", "org_id")


class TokenError(Exception):
    """A token that is not accepted; the message says why (safe to show, contains no token)."""


@dataclass(frozen=True)
class AccessClaims:
    client_id: str
    org_type: str
    org_id: str
    scopes: frozenset[str]
    jti: str
    expires_at: int


def _pem(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def issue_access_token(
    *,
    signing_key: ec.EllipticCurvePrivateKey,
    key_id: str,
    issuer: str,
    audience: str,
    client_id: str,
    org_type: str,
    org_id: str,
    scopes: list[str],
    ttl_seconds: int,
) -> tuple[str, int]:
    """Sign an access token; returns the token and its lifetime in seconds."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": client_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": secrets.token_urlsafe(16),
        "scope": " ".join(scopes),
        "org_type": org_type,
        "org_id": org_id,
    }
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    token = jwt.encode(claims, pem.decode(), algorithm="ES256", headers={"kid": key_id})
    return token, ttl_seconds


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except JOSEError:
        raise TokenError("the token is not a well-formed JWT") from None


def verify_access_token(
    token: str,
    *,
    keys: Mapping[str, ec.EllipticCurvePublicKey],
    issuer: str,
    audience: str,
) -> AccessClaims:
    """Verify an access token or raise :class:`TokenError`."""
    header = _header(token)
    algorithm = header.get("alg")
    if algorithm not in ACCESS_TOKEN_ALGORITHMS:
        raise TokenError(f"token algorithm {algorithm!r} is not allowed (allowed: ES256)")
    key_id = header.get("kid")
    if not isinstance(key_id, str) or key_id not in keys:
        raise TokenError("the token's signing key (kid) is unknown")
    try:
        claims = jwt.decode(
            token,
            _pem(keys[key_id]).decode(),
            algorithms=list(ACCESS_TOKEN_ALGORITHMS),
            audience=audience,
            issuer=issuer,
            options={
                "require_exp": True,
                "require_iat": True,
                "require_jti": True,
                "require_sub": True,
                "require_aud": True,
                "require_iss": True,
                "leeway": LEEWAY_SECONDS,
            },
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired") from None
    except jwt.JWTClaimsError as exc:
        raise TokenError(f"the token's claims are not accepted: {exc}") from None
    except JOSEError:
        raise TokenError("the token's signature does not verify") from None
    missing = [c for c in REQUIRED_CLAIMS if c not in claims]
    if missing:
        raise TokenError(f"the token lacks the claims: {', '.join(missing)}")
    if int(claims["iat"]) > time.time() + LEEWAY_SECONDS:
        raise TokenError("the token is not yet valid (issued in the future)")
    return AccessClaims(
        client_id=str(claims["sub"]),
        org_type=str(claims["org_type"]),
        org_id=str(claims["org_id"]),
        scopes=frozenset(str(claims["scope"]).split()),
        jti=str(claims["jti"]),
        expires_at=int(claims["exp"]),
    )


@dataclass(frozen=True)
class ClientAssertion:
    client_id: str
    jti: str
    expires_at: int


def unverified_assertion_subject(assertion: str) -> str:
    """The ``sub`` of a client assertion, to look the client up before verifying it."""
    try:
        claims = jwt.get_unverified_claims(assertion)
    except JOSEError:
        raise TokenError("the client assertion is not a well-formed JWT") from None
    subject = claims.get("sub")
    if not isinstance(subject, str):
        raise TokenError("the client assertion has no sub")
    return subject


def verify_client_assertion(
    assertion: str, *, client_id: str, public_key_pem: str, audiences: list[str]
) -> ClientAssertion:
    """Verify a private_key_jwt assertion (RFC 7523): iss = sub = client id, aud = our token URL."""
    header = _header(assertion)
    algorithm = header.get("alg")
    if algorithm not in CLIENT_ASSERTION_ALGORITHMS:
        raise TokenError(f"client assertion algorithm {algorithm!r} is not allowed")
    try:
        key = jwk.construct(public_key_pem, algorithm)
        claims = jwt.decode(
            assertion,
            key,
            algorithms=[algorithm],
            options={
                "verify_aud": False,
                "require_exp": True,
                "require_jti": True,
                "require_sub": True,
                "require_iss": True,
                "leeway": LEEWAY_SECONDS,
            },
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the client assertion has expired") from None
    except JOSEError:
        raise TokenError("the client assertion does not verify") from None
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise TokenError("the client assertion's iss and sub must both be the client id")
    audience = claims.get("aud")
    given = [audience] if isinstance(audience, str) else list(audience or [])
    if not set(given) & set(audiences):
        raise TokenError("the client assertion's aud must be this token endpoint")
    if int(claims["exp"]) > time.time() + 600:
        raise TokenError("the client assertion lives too long (at most 10 minutes)")
    return ClientAssertion(client_id=client_id, jti=str(claims["jti"]), expires_at=int(claims["exp"]))
