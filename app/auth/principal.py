"""Who is calling, and the FastAPI dependencies that say what an endpoint needs.

An endpoint never checks a token itself. Each domain names who may call it as a type, in its
``auth.py``, and an endpoint takes one; ``audited`` names what the audit log calls the endpoint::

    RecordsWriter = Annotated[Principal, Depends(requires("records:write", OrgType.provider))]

    @router.delete("/{record_id}", name="records.retract")
    @audited("records.retract")
    def retract_record(request: Request, principal: RecordsWriter, ...) -> Response: ...

``requires`` checks the token, the scope and the kind of organisation (403 otherwise);
``for_organisation`` also checks that the path parameter names the caller's own organisation and
answers 404 when it does not, so that another organisation's objects are never revealed. Both
record the endpoint's audit action before they check anything, so that a refused call is logged
under the action it attempted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request

from app.audit.context import AuditContext
from app.auth import clients, tokens
from app.auth.clients import OrgType
from app.problems import Problem


@dataclass(frozen=True)
class Principal:
    client_id: str
    org_type: OrgType
    org_id: str
    scopes: frozenset[str]


def audit_context(request: Request) -> AuditContext:
    return request.state.audit  # set by RequestContextMiddleware


Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
_ACTIONS: dict[Callable[..., Any], str] = {}


def audited(action: str) -> Callable[[Endpoint], Endpoint]:
    """Name the endpoint's action in the audit log; its auth dependency records it."""

    def mark(endpoint: Endpoint) -> Endpoint:
        _ACTIONS[endpoint] = action
        return endpoint

    return mark


def audit_action(request: Request) -> str | None:
    """The action :func:`audited` named for the endpoint serving ``request`` (None when it named none)."""
    endpoint = request.scope.get("endpoint")
    return _ACTIONS.get(endpoint) if endpoint is not None else None


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Problem(401, "no access token: send 'Authorization: Bearer <token>' (get one at /v1/oauth/token)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def authenticate(request: Request) -> Principal:
    runtime = request.app.state.runtime
    token = _bearer(request)
    try:
        claims = tokens.verify_access_token(
            token,
            keys=runtime.token_keys,
            issuer=runtime.settings.issuer,
            audience=runtime.settings.audience,
        )
        org_type = OrgType(claims.org_type)
    except tokens.TokenError as exc:
        raise Problem(401, f"the access token is not accepted: {exc}") from None
    except ValueError:
        raise Problem(401, "the access token is not accepted: unknown org_type") from None
    principal = Principal(claims.client_id, org_type, claims.org_id, claims.scopes)
    context = audit_context(request)
    context.client_id = principal.client_id
    context.org_type = principal.org_type.value
    context.org_id = principal.org_id
    # One indexed read per request, so that a disabled client's unexpired tokens stop working at
    # once in every process (a cache per process would let other workers accept them meanwhile).
    reader = runtime.read_sessions()
    try:
        active = clients.is_active(reader, principal.client_id)
    finally:
        reader.rollback()
        reader.close()
    if not active:
        raise Problem(401, "the access token is not accepted: its client is disabled")
    return principal


#: Scopes whose unsafe requests (POST, PUT, PATCH, DELETE) count against the client's write rate.
WRITE_SCOPES = frozenset({"consents:write", "records:write", "notes:write"})
#: Scopes whose requests count against the client's cap on concurrent report requests.
REPORT_SCOPES = frozenset({"reports:read"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check(scope: str, org_types: tuple[OrgType, ...]) -> Callable[[Request], Principal]:
    def check(request: Request) -> Principal:
        context = audit_context(request)
        action = audit_action(request)
        if action:
            context.action = action
        principal = authenticate(request)
        context.role = scope
        if scope not in principal.scopes:
            raise Problem(403, f"this token lacks the scope {scope!r}")
        if org_types and principal.org_type not in org_types:
            allowed = ", ".join(t.value for t in org_types)
            raise Problem(403, f"only {allowed} tokens may do this; this token is for a {principal.org_type.value}")
        if scope in WRITE_SCOPES and request.method not in _SAFE_METHODS \
                and not getattr(request.state, "write_counted", False):
            request.state.write_counted = True  # a request is counted once, whatever depends on it
            request.app.state.runtime.limits.check_write(principal.client_id)
        return principal

    return check


def _limited(scope: str, check: Callable[[Request], Principal]) -> Callable[..., Any]:
    """``check`` as the dependency; for report scopes it also holds one of the client's report
    slots until the response has been sent (429 with Retry-After when all are taken)."""
    if scope not in REPORT_SCOPES:
        return check

    def dependency(request: Request) -> Iterator[Principal]:
        principal = check(request)
        with request.app.state.runtime.limits.report_slot(principal.client_id):
            yield principal

    return dependency


def requires(scope: str, *org_types: OrgType) -> Callable[..., Any]:
    """A dependency: a valid token with ``scope``, held by one of ``org_types`` (any when empty)."""
    return _limited(scope, _check(scope, org_types))


def for_organisation(scope: str, org_type: OrgType, path_param: str) -> Callable[..., Any]:
    """A dependency: like :func:`requires`, and the path parameter must be the caller's organisation."""
    base = _check(scope, (org_type,))

    def check(request: Request) -> Principal:
        principal = base(request)
        wanted = request.path_params.get(path_param)
        audit_context(request).resource = request.url.path
        if wanted != principal.org_id:
            raise Problem(404, f"no resource at {request.url.path}")
        return principal

    return _limited(scope, check)
