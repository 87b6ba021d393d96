"""Login through an organisation's own identity provider (OpenID Connect, authorization code flow
with PKCE S256, ``state`` and ``nonce``), with authlib for the protocol and joserfc for the ID token.

Configured by ``TTP_OIDC_PROVIDERS``: a JSON list of providers, each::

    {"name": "utrecht", "label": "Gemeente Utrecht", "issuer": "https://idp.utrecht.nl",
     "metadata_url": "https://idp.utrecht.nl/.well-known/openid-configuration",
     "client_id": "...", "client_secret": "...",
     "org_type": "municipality", "org_id": "GM0344", "match_verified_email": true}

Nobody registers through OIDC. The ID token's (issuer, subject) must be bound to an existing
account of the provider's organisation; or, on the first login and when ``match_verified_email``
is set, its ``email`` claim with ``email_verified: true`` must be an existing account of that
organisation, which is then bound to the subject. Anything else is refused.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

with warnings.catch_warnings():
    # authlib announces its move to the httpx2 package at import; httpx is what this service uses,
    # and the notice would be the first thing a newcomer's `make run` prints. authlib.deprecate
    # installs its own "always" filter when imported, so ours goes in after it.
    import authlib.deprecate  # noqa: F401
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import OAuth2Client  # httpx is already ours; requests is not
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import UserAccount

STATE_LIFETIME_SECONDS = 600
ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256"]
HTTP_TIMEOUT_SECONDS = 10
_NAME = re.compile(r"[a-z0-9-]{1,40}")


class OidcError(Exception):
    """The login through the identity provider failed; the message is safe to show (Dutch)."""


class OidcProvider(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    label: str = Field(min_length=1, max_length=100)
    issuer: str
    client_id: str
    client_secret: str | None = None
    metadata_url: str | None = None
    # Set these instead of metadata_url to configure the endpoints by hand.
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    jwks_uri: str | None = None
    scope: str = "openid email"
    org_type: str
    org_id: str
    match_verified_email: bool = True


class OidcSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TTP_", extra="ignore")

    oidc_providers: list[OidcProvider] = []


def configured() -> list[OidcProvider]:
    return OidcSettings().oidc_providers


def provider(name: str) -> OidcProvider | None:
    if not _NAME.fullmatch(name):
        return None
    return next((p for p in configured() if p.name == name), None)


def _metadata(p: OidcProvider) -> dict[str, Any]:
    found = {"authorization_endpoint": p.authorization_endpoint, "token_endpoint": p.token_endpoint,
             "jwks_uri": p.jwks_uri}
    if all(found.values()):
        return found
    if not p.metadata_url:
        raise OidcError("Deze inlogmethode is niet volledig ingesteld.")
    try:
        answer = httpx.get(p.metadata_url, timeout=HTTP_TIMEOUT_SECONDS)
        answer.raise_for_status()
        metadata = answer.json()
    except (httpx.HTTPError, ValueError):
        raise OidcError("De identity provider is nu niet bereikbaar.") from None
    if metadata.get("issuer") != p.issuer:
        raise OidcError("De identity provider noemt een andere issuer dan ingesteld.")
    return {k: v or metadata.get(k) for k, v in found.items()}


@dataclass(frozen=True)
class Redirect:
    url: str
    state: dict[str, Any]  # to keep (signed) until the callback: state, nonce, code verifier


def begin(p: OidcProvider, redirect_uri: str, next_path: str) -> Redirect:
    """The authorization request: a URL to send the browser to, with state, nonce and PKCE."""
    metadata = _metadata(p)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(24)
    client = OAuth2Client(p.client_id, p.client_secret, scope=p.scope, redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                 nonce=nonce)
    kept = {"p": p.name, "s": state, "n": nonce, "v": verifier, "t": int(time.time()), "next": next_path}
    return Redirect(url, kept)


def encode_state(kept: dict[str, Any]) -> str:
    return json.dumps(kept, separators=(",", ":"))


def decode_state(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        kept = json.loads(text)
    except ValueError:
        return None
    if not isinstance(kept, dict) or int(kept.get("t", 0)) + STATE_LIFETIME_SECONDS < time.time():
        return None
    return kept


def finish(p: OidcProvider, kept: dict[str, Any], *, code: str, state: str, redirect_uri: str) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) and verify the ID token; its claims."""
    if kept.get("p") != p.name or not secrets.compare_digest(str(kept.get("s", "")), state):
        raise OidcError("De inlogpoging klopt niet (state); begin opnieuw.")
    metadata = _metadata(p)
    client = OAuth2Client(p.client_id, p.client_secret, scope=p.scope, redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    try:
        token = client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=kept["v"],
                                   timeout=HTTP_TIMEOUT_SECONDS)
        keys = KeySet.import_key_set(httpx.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT_SECONDS).json())
    except Exception:  # noqa: BLE001 - any failure of the exchange is one answer to the person
        raise OidcError("De identity provider gaf geen geldig antwoord.") from None
    return verify_id_token(p, str(token.get("id_token", "")), keys, nonce=str(kept["n"]))


def verify_id_token(p: OidcProvider, id_token: str, keys: KeySet, *, nonce: str) -> dict[str, Any]:
    try:
        decoded = jwt.decode(id_token, keys, algorithms=ID_TOKEN_ALGORITHMS)
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": p.issuer},
            aud={"essential": True, "value": p.client_id},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError):
        raise OidcError("Het ID-token van de identity provider is niet geldig.") from None
    return dict(decoded.claims)


def match_account(session: Session, p: OidcProvider, claims: dict[str, Any]) -> UserAccount | None:
    """The existing account these claims belong to, or None (no self-registration)."""
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    if not issuer or not subject:
        return None
    account = session.execute(
        select(UserAccount).where(UserAccount.oidc_issuer == issuer, UserAccount.oidc_subject == subject)
    ).scalar_one_or_none()
    if account is None and p.match_verified_email and claims.get("email_verified") is True:
        email = str(claims.get("email", "")).strip().lower()
        candidate = session.execute(select(UserAccount).where(UserAccount.email == email)).scalar_one_or_none()
        if candidate is not None and candidate.oidc_subject is None:
            account = candidate
    if account is None or account.disabled:
        return None
    if (account.org_type, account.org_id) != (p.org_type, p.org_id):
        return None  # an identity provider vouches for its own organisation only
    if account.oidc_subject is None:  # first login: bind the account to this subject
        account.oidc_issuer, account.oidc_subject = issuer, subject
        session.flush()
    return account
