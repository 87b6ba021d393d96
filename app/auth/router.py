"""HTTP: the OAuth 2 token endpoint and the admin's client registration."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from app import dependencies, plain_text
from app.auth import clients, tokens
from app.auth.auth import ClientsAdmin
from app.auth.clients import OrgType
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.models import Client
from app.problems import INVALID_CLIENT, INVALID_SCOPE, UNSUPPORTED_GRANT_TYPE, Problem, problem_responses

router = APIRouter(prefix="/v1", tags=["identity"])

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FORM = "application/x-www-form-urlencoded"


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
    try:
        if basic is not None:
            client = clients.authenticate_with_secret(session, *basic)
        elif client_secret is not None:
            if not client_id:
                raise Problem(401, "client_secret_post needs client_id", kind=INVALID_CLIENT)
            client = clients.authenticate_with_secret(session, client_id, client_secret)
        else:
            if client_assertion_type != JWT_BEARER:
                raise Problem(401, f"client_assertion_type must be {JWT_BEARER}", kind=INVALID_CLIENT)
            token_url = str(request.url_for("oauth.token"))
            audiences = [token_url, runtime.settings.issuer]
            client = clients.authenticate_with_assertion(session, client_assertion or "", audiences)
    except clients.AuthenticationFailed as exc:
        raise Problem(401, f"client authentication failed: {exc}", kind=INVALID_CLIENT) from None
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
) -> list[ClientSummary]:
    rows = session.execute(select(Client).order_by(Client.id)).scalars().all()
    audit_context(request).detail = {"count": len(rows)}
    return [
        ClientSummary(
            client_id=c.client_id, name=c.name, org_type=OrgType(c.org_type), org_id=c.org_id,
            scopes=c.scopes.split(), active=c.active,
            auth_method="private_key_jwt" if c.public_key_pem else "client_secret",
        )
        for c in rows
    ]
