"""HTTP: the OAuth 2 token endpoint and the admin's client registration."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app import dependencies, plain_text
from app.audit import log as audit_log
from app.auth import clients, lockout, tokens
from app.auth.auth import ClientsAdmin
from app.auth.clients import OrgType
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.models import Client
from app.privacy.configuration import Limits
from app.problems import INVALID_CLIENT, INVALID_SCOPE, UNSUPPORTED_GRANT_TYPE, Problem, problem_responses

if TYPE_CHECKING:
    from app.runtime import Runtime

router = APIRouter(prefix="/v1", tags=["identity"])

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"
Result = TypeVar("Result")


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    scope: str


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Problem(401, "the Basic credentials are not valid base64", kind=INVALID_CLIENT) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise Problem(401, "the Basic credentials must be client_id:client_secret", kind=INVALID_CLIENT)
    return unquote(client_id), unquote(secret)


def _form_encoded(request: Request) -> None:
    """The token request is a form (RFC 6749 4.4.2); a client that sends JSON is told so, not that
    grant_type is missing."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in (FORM, "multipart/form-data"):
        raise Problem(400, f"send {FORM}, not {media}: the token request is a form (RFC 6749 4.4.2)",
                      errors=[{"field": "body", "reason": f"must be {FORM}"}])


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    summary="OAuth 2 client credentials token",
    responses=problem_responses(400, 401),
    name="oauth.token",
    dependencies=[Depends(_form_encoded)],
)
def token(
    request: Request,
    session: dependencies.DbSession,
    runtime: RuntimeDep,
    grant_type: Annotated[str, Form()],
    scope: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    client_assertion_type: Annotated[str | None, Form()] = None,
    client_assertion: Annotated[str | None, Form()] = None,
) -> TokenResponse:
    """Client credentials grant (RFC 6749 4.4) with ``client_secret_basic``, ``client_secret_post``
    or ``private_key_jwt`` (RFC 7523) client authentication."""
    context = audit_context(request)
    context.action = "oauth.token"
    if grant_type != "client_credentials":
        raise Problem(400, "grant_type must be client_credentials", kind=UNSUPPORTED_GRANT_TYPE,
                      errors=[{"field": "grant_type", "reason": "must be client_credentials"}])
    basic = _basic_credentials(request)
    methods = sum(x is not None for x in (basic, client_secret, client_assertion))
    if methods != 1:
        raise Problem(401, "authenticate the client with exactly one of client_secret_basic, "
                      "client_secret_post or private_key_jwt", kind=INVALID_CLIENT)
    claimed = _claimed_client_id(basic, client_id, client_secret, client_assertion)
    if claimed is not None:
        runtime.limits.check_token_request(claimed)  # 429 before any work: no scrypt for a flood
    limits = runtime.privacy.configuration.limits
    now = datetime.now(UTC)
    # The lock check and the secret's scrypt run read through a read-only session, closed before
    # the writing one is used (one connection at a time): on SQLite they take no write lock, so
    # concurrent token requests and ingestion do not queue behind scrypt. Only private_key_jwt
    # writes before it knows the client (the assertion's jti, against replay).
    try:
        if claimed is not None:
            until = _read(runtime, lambda reader: lockout.locked_until(reader, claimed, now))
            if until is not None:
                context.detail = {"reason": "locked"}
                raise _locked(until, now)
        if basic is not None:
            found_id = _read(runtime, lambda reader: clients.authenticate_with_secret(
                reader, *basic, grace=_grace(limits), now=now).client_id)
        elif client_secret is not None:
            if not client_id:
                raise Problem(401, "client_secret_post needs client_id", kind=INVALID_CLIENT)
            found_id = _read(runtime, lambda reader: clients.authenticate_with_secret(
                reader, client_id, client_secret, grace=_grace(limits), now=now).client_id)
        else:
            if client_assertion_type != JWT_BEARER:
                raise Problem(401, f"client_assertion_type must be {JWT_BEARER}", kind=INVALID_CLIENT)
            token_url = str(request.url_for("oauth.token"))
            audiences = [token_url, runtime.settings.issuer]
            found_id = clients.authenticate_with_assertion(session, client_assertion or "", audiences).client_id
        # The writing transaction from here: the client as it is now (disabled meanwhile: refused).
        client = clients.by_client_id(session, found_id)
        if client is None or not client.active:
            raise clients.AuthenticationFailed("unknown client or wrong secret")
    except clients.AuthenticationFailed as exc:
        if claimed is not None:
            _count_failure(session, claimed, limits, now, request)
        raise Problem(401, f"client authentication failed: {exc}", kind=INVALID_CLIENT) from None
    lockout.clear(session, client.client_id)
    client.last_token_at = now
    context.client_id, context.org_type, context.org_id = client.client_id, client.org_type, client.org_id
    granted = client.scopes.split()
    if scope:
        wanted = scope.split()
        extra = [s for s in wanted if s not in granted]
        if extra:
            raise Problem(400, f"scope {extra[0]!r} is not granted to this client", kind=INVALID_SCOPE,
                          errors=[{"field": "scope", "reason": f"not granted: {extra[0]}"}])
        granted = wanted
    key_id, signing_key = runtime.keyring.token_signing_key()
    access_token, expires_in = tokens.issue_access_token(
        signing_key=signing_key,
        key_id=key_id,
        issuer=runtime.settings.issuer,
        audience=runtime.settings.audience,
        client_id=client.client_id,
        org_type=client.org_type,
        org_id=client.org_id,
        scopes=granted,
        ttl_seconds=runtime.settings.token_ttl_seconds,
    )
    context.detail = {"scopes": " ".join(granted), "token_key_id": key_id}
    context.commit(session)
    return TokenResponse(access_token=access_token, expires_in=expires_in, scope=" ".join(granted))


def _claimed_client_id(basic: tuple[str, str] | None, client_id: str | None, client_secret: str | None,
                       client_assertion: str | None) -> str | None:
    """The client id a token request names (not yet authenticated): what its limits count by."""
    if basic is not None:
        return basic[0][:200] or None
    if client_secret is not None:
        return (client_id or "")[:200] or None
    try:
        return tokens.unverified_assertion_subject(client_assertion or "")[:200] or None
    except tokens.TokenError:
        return None


def _read(runtime: Runtime, work: Callable[[Session], Result]) -> Result:
    """``work`` in a read-only session of its own, closed before returning."""
    reader = runtime.read_sessions()
    try:
        return work(reader)
    finally:
        reader.rollback()
        reader.close()


def _grace(limits: Limits) -> timedelta:
    return timedelta(hours=limits.secret_rotation_grace_hours)


def _locked(until: datetime, now: datetime) -> Problem:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return Problem(401, "client authentication failed: too many failed attempts for this client id; it is locked "
                   f"for {seconds} s more (even the right secret is refused meanwhile)", kind=INVALID_CLIENT,
                   headers={"Retry-After": str(seconds)})


def _count_failure(session: Session, claimed: str, limits: Limits, now: datetime, request: Request) -> None:
    """Count the failure in the database (committed now, though the request fails); when it locks
    the client id, that is an audit entry of its own. Unknown ids count and lock the same way."""
    failure = lockout.record_failure(session, claimed, limits, now)
    if failure.locked_until is not None:
        known = clients.by_client_id(session, claimed)
        context = audit_context(request)
        audit_log.append(session, audit_log.AuditEvent(
            action="oauth.client_locked", result="success", request_id=context.request_id, source=context.source,
            client_id=known.client_id if known else None, org_type=known.org_type if known else None,
            org_id=known.org_id if known else None,
            resource=f"clients/{known.client_id}" if known else "clients/unknown",
            detail={"failures": failure.failures, "locked_minutes": limits.lockout_minutes,
                    "known_client": known is not None,
                    **({} if known else {"client_id_sha256": lockout.key_for(claimed)[:16]})},
        ))
    lockout.purge(session, now, limits)
    session.commit()
    audit_context(request).detail = {"reason": "locked_now" if failure.locked_until else "wrong_credentials",
                                      "failures": failure.failures}


class ClientRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=plain_text.PATTERN)
    org_type: OrgType
    org_id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    scopes: list[str] | None = Field(default=None, description="Defaults to every scope the org type may hold")
    public_key_pem: str | None = Field(
        default=None, max_length=4000, description="For private_key_jwt clients: their PEM public key"
    )


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str | None = Field(description="Shown once; stored only as a hash")
    name: str
    org_type: OrgType
    org_id: str
    scopes: list[str]


class ClientSummary(BaseModel):
    client_id: str
    name: str
    org_type: OrgType
    org_id: str
    scopes: list[str]
    active: bool
    auth_method: Literal["client_secret", "private_key_jwt"]
    auth_methods: list[Literal["client_secret", "private_key_jwt"]] = Field(
        default_factory=list, description="Every method it may authenticate with")
    created_at: datetime | None = None
    last_token_at: datetime | None = Field(default=None, description="When it was last given a token")
    secret_rotated_at: datetime | None = None
    previous_secret_valid_until: datetime | None = Field(
        default=None, description="After a rotation: until when the old secret is still accepted")
    locked_until: datetime | None = Field(
        default=None, description="Locked after failed authentications until then (enable lifts it)")


class RotatedSecret(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; stored only as a hash")
    previous_secret_valid_until: datetime | None = Field(
        description="The old secret is accepted until then (none when the client had no secret)")


class PublicKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key_pem: str = Field(min_length=1, max_length=4000,
                                description="PEM public key (EC P-256 or RSA >= 2048) for private_key_jwt")


@router.post(
    "/clients",
    status_code=201,
    response_model=ClientCreated,
    summary="Register a machine client (admin)",
    responses=problem_responses(400, 401, 403),
    name="clients.create",
)
@audited("clients.create")
def create_client(
    body: ClientRequest,
    request: Request,
    session: dependencies.DbSession,
    principal: ClientsAdmin,
    runtime: RuntimeDep,
) -> ClientCreated:
    try:
        made = clients.create_client(
            session,
            name=body.name,
            org_type=body.org_type.value,
            org_id=body.org_id,
            scopes=body.scopes,
            ttp_id=runtime.settings.ttp_id,
            known_municipalities=runtime.codelists.municipalities.keys(),
            public_key_pem=body.public_key_pem,
        )
    except clients.ClientError as exc:
        raise Problem(400, str(exc), errors=[{"field": exc.field, "reason": exc.reason}]) from None
    context = audit_context(request)
    context.resource = f"clients/{made.client_id}"
    context.detail = {"new_client_org_type": made.org_type, "new_client_org_id": made.org_id}
    context.commit(session, 201)
    return ClientCreated(
        client_id=made.client_id, client_secret=made.client_secret, name=made.name,
        org_type=OrgType(made.org_type), org_id=made.org_id, scopes=made.scopes,
    )


@router.get(
    "/clients",
    response_model=list[ClientSummary],
    summary="List machine clients (admin); never shows secrets",
    responses=problem_responses(401, 403),
    name="clients.list",
)
@audited("clients.list")
def list_clients(
    request: Request,
    session: dependencies.DbSession,
    principal: ClientsAdmin,
    runtime: RuntimeDep,
) -> list[ClientSummary]:
    limits = runtime.privacy.configuration.limits
    rows = clients.list_clients(session, datetime.now(UTC), grace=_grace(limits))
    audit_context(request).detail = {"count": len(rows)}
    return [_summary(row) for row in rows]


def _summary(row: dict[str, Any]) -> ClientSummary:
    methods = row["auth_methods"]
    return ClientSummary(
        client_id=row["client_id"], name=row["name"], org_type=OrgType(row["org_type"]), org_id=row["org_id"],
        scopes=row["scopes"], active=row["active"],
        auth_method="private_key_jwt" if "private_key_jwt" in methods else "client_secret",
        auth_methods=methods, created_at=row["created_at"], last_token_at=row["last_token_at"],
        secret_rotated_at=row["secret_rotated_at"], previous_secret_valid_until=row["previous_secret_valid_until"],
        locked_until=row["locked_until"],
    )


def _client_or_404(session: Session, client_id: str, request: Request) -> Client:
    context = audit_context(request)
    context.resource = f"clients/{client_id[:64]}"
    client = clients.by_client_id(session, client_id, for_update=True)
    if client is None:
        raise Problem(404, f"no client {client_id[:64]!r}")
    return client


def _one_summary(session: Session, runtime: Runtime, client_id: str) -> ClientSummary:
    grace = _grace(runtime.privacy.configuration.limits)
    rows = [r for r in clients.list_clients(session, datetime.now(UTC), grace=grace) if r["client_id"] == client_id]
    return _summary(rows[0])


def _set_active(request: Request, session: Session, runtime: Runtime, client_id: str, active: bool) -> ClientSummary:
    client = _client_or_404(session, client_id, request)
    changed = clients.set_active(session, client, active)
    lifted = lockout.unlock(session, client.client_id) if active else False
    audit_context(request).detail = {"client_org_type": client.org_type, "client_org_id": client.org_id,
                                     "changed": changed, **({"lock_lifted": lifted} if active else {})}
    summary = _one_summary(session, runtime, client.client_id)
    audit_context(request).commit(session)
    return summary


@router.post(
    "/clients/{client_id}/disable",
    response_model=ClientSummary,
    summary="Disable a machine client (admin): no new token, and its unexpired tokens stop working at once",
    responses=problem_responses(401, 403, 404),
    name="clients.disable",
)
@audited("clients.disable")
def disable_client(client_id: str, request: Request, session: dependencies.DbSession, principal: ClientsAdmin,
                   runtime: RuntimeDep) -> ClientSummary:
    return _set_active(request, session, runtime, client_id, False)


@router.post(
    "/clients/{client_id}/enable",
    response_model=ClientSummary,
    summary="Enable a disabled machine client (admin); also lifts a lockout",
    responses=problem_responses(401, 403, 404),
    name="clients.enable",
)
@audited("clients.enable")
def enable_client(client_id: str, request: Request, session: dependencies.DbSession, principal: ClientsAdmin,
                  runtime: RuntimeDep) -> ClientSummary:
    return _set_active(request, session, runtime, client_id, True)


@router.post(
    "/clients/{client_id}/rotate-secret",
    response_model=RotatedSecret,
    summary="Give a machine client a new secret (admin); the old one works for the configured grace",
    responses=problem_responses(401, 403, 404),
    name="clients.rotate_secret",
)
@audited("clients.rotate_secret")
def rotate_client_secret(client_id: str, request: Request, session: dependencies.DbSession,
                         principal: ClientsAdmin, runtime: RuntimeDep) -> RotatedSecret:
    client = _client_or_404(session, client_id, request)
    rotated = clients.rotate_secret(session, client, _grace(runtime.privacy.configuration.limits))
    context = audit_context(request)
    context.detail = {"client_org_type": client.org_type, "client_org_id": client.org_id,
                      "previous_secret_valid_until": rotated.previous_valid_until.isoformat()
                      if rotated.previous_valid_until else None}
    context.commit(session)
    return RotatedSecret(client_id=rotated.client_id, client_secret=rotated.client_secret,
                         previous_secret_valid_until=rotated.previous_valid_until)


@router.put(
    "/clients/{client_id}/public-key",
    response_model=ClientSummary,
    summary="Register or replace a machine client's public key for private_key_jwt (admin)",
    responses=problem_responses(400, 401, 403, 404),
    name="clients.set_key",
)
@audited("clients.set_key")
def set_client_key(client_id: str, body: PublicKeyRequest, request: Request, session: dependencies.DbSession,
                   principal: ClientsAdmin, runtime: RuntimeDep) -> ClientSummary:
    client = _client_or_404(session, client_id, request)
    try:
        replaced = clients.set_public_key(session, client, body.public_key_pem)
    except clients.ClientError as exc:
        raise Problem(400, str(exc), errors=[{"field": exc.field, "reason": exc.reason}]) from None
    audit_context(request).detail = {"client_org_type": client.org_type, "client_org_id": client.org_id,
                                     "replaced": replaced}
    summary = _one_summary(session, runtime, client.client_id)
    audit_context(request).commit(session)
    return summary
