"""Who is looking at a page: the logged-in person, as types a page endpoint takes.

The page counterpart of :mod:`app.auth.principal`: an endpoint names who may see it by taking
one of these types, and names its audit action with ``@audited``::

    @router.get("/gemeente/{code}", include_in_schema=False, name="page.municipality.overview")
    @audited("page.municipality.overview")
    def overview(request: Request, user: MunicipalityUser, code: str) -> Response:
        own_organisation(user, code)
        ...

Not logged in (or timed out) -> 303 to ``/inloggen?volgende=<path>``; logged in as another kind
of organisation -> a 403 page. Each fills the audit context like :func:`app.auth.principal.requires`
does for tokens (client ``user:<account_id>``, organisation, action, resource = the path, role
``web:<org_type>``). The ``Csrf*`` variants are for POST forms: they also check the form field
``csrf_token`` against the session's token (constant-time) and answer a 403 page otherwise, before
the endpoint runs, so nothing changes.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from app import db
from app.accounts import sessions
from app.accounts.keys import AccountKeys
from app.auth.clients import ALLOWED_SCOPES, OrgType
from app.auth.principal import Principal, audit_action, audit_context
from app.models import UserAccount
from app.reports.families import agreed_region, region_slug
from app.runtime import Runtime
from app.web.errors import LoginRequired, PageError

SESSION_COOKIE = "ttp_sessie"
COOKIE_SALT = "outcome-ttp/session"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class WebUser:
    account_id: str
    email: str
    principal: Principal  # client_id == f"user:{account_id}"; scopes = ALLOWED_SCOPES[org_type]
    csrf_token: str  # per session; every POST form carries it as hidden field "csrf_token"
    organisation_label: str  # "Gemeente Utrecht (GM0344)", "Aanbieder 12345678", "Privacy officer"
    start_page: str  # "/gemeente/GM0344", "/aanbieder/12345678", "/privacy"
    region: str | None  # the agreed region slug a municipality user may read, else None


def account_keys(runtime: Runtime) -> AccountKeys:
    """The accounts' keys, read from the key directory once per process (and after a KEK change)."""
    cached: AccountKeys | None = getattr(runtime, "_account_keys", None)
    if cached is None or cached.active.key_id != runtime.keyring.active["kek"]:
        cached = AccountKeys.from_keyring(runtime.keyring)
        object.__setattr__(runtime, "_account_keys", cached)
    return cached


def web_user_for(account: UserAccount, csrf_token: str, runtime: Runtime) -> WebUser:
    kind = OrgType(account.org_type)
    principal = Principal(f"user:{account.account_id}", kind, account.org_id, frozenset(ALLOWED_SCOPES[kind]))
    region = None
    if kind is OrgType.municipality:
        municipality = runtime.codelists.municipalities.get(account.org_id)
        name = municipality.name if municipality else account.org_id
        label, start = f"Gemeente {name} ({account.org_id})", f"/gemeente/{account.org_id}"
        agreed = agreed_region(account.org_id, runtime.codelists, runtime.privacy.configuration)
        region = region_slug(agreed) if agreed else None
    elif kind is OrgType.provider:
        label, start = f"Aanbieder {account.org_id}", f"/aanbieder/{account.org_id}"
    else:
        label, start = "Privacy officer", "/privacy"
    return WebUser(account.account_id, account.email, principal, csrf_token, label, start, region)


def session_id(request: Request) -> str | None:
    """The raw session id from the signed cookie, or None."""
    signed = request.cookies.get(SESSION_COOKIE)
    if not signed:
        return None
    return account_keys(request.app.state.runtime).unsign(signed, COOKIE_SALT)


def current_user(request: Request) -> WebUser | None:
    """The logged-in person (and the session's last activity moved to now), or None."""
    if hasattr(request.state, "web_user"):
        return request.state.web_user
    user = None
    raw_id = session_id(request)
    if raw_id is not None:
        runtime: Runtime = request.app.state.runtime
        with db.session_scope(runtime.sessions) as session:
            found = sessions.find(session, raw_id, sessions.FULL)
            if found is not None:
                row, account = found
                user = web_user_for(account, row.csrf_token, runtime)
    request.state.web_user = user
    return user


def _fill_audit(request: Request, user: WebUser) -> None:
    context = audit_context(request)
    context.client_id = user.principal.client_id
    context.org_type = user.principal.org_type.value
    context.org_id = user.principal.org_id
    context.role = f"web:{user.principal.org_type.value}"


def _user_of(request: Request, org_types: tuple[OrgType, ...]) -> WebUser:
    context = audit_context(request)
    action = audit_action(request)
    if action:
        context.action = action
    context.resource = request.url.path
    user = current_user(request)
    if user is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    _fill_audit(request, user)
    if org_types and user.principal.org_type not in org_types:
        raise PageError(403, "Geen toegang: deze pagina is niet voor uw organisatie.")
    return user


def optional_user(request: Request) -> WebUser | None:
    """The logged-in person or None (no redirect); fills the audit context when logged in."""
    user = current_user(request)
    if user is not None:
        _fill_audit(request, user)
    return user


def requires_user(*org_types: OrgType) -> Callable[[Request], WebUser]:
    def dependency(request: Request) -> WebUser:
        return _user_of(request, org_types)

    return dependency


async def check_csrf(request: Request, user: WebUser) -> None:
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not hmac.compare_digest(given.encode(), user.csrf_token.encode()):
        audit_context(request).detail["csrf"] = "missing" if not given else "wrong"
        raise PageError(403, "Dit formulier is verlopen of niet door deze site verstuurd. Laad de pagina "
                             "opnieuw en probeer het nog eens.")


def requires_form_user(*org_types: OrgType) -> Callable[[Request], Awaitable[WebUser]]:
    base = requires_user(*org_types)

    async def dependency(request: Request) -> WebUser:
        user = await run_in_threadpool(base, request)
        await check_csrf(request, user)
        return user

    return dependency


def own_organisation(user: WebUser, org_id: str) -> None:
    """A 404 page unless ``org_id`` is the user's own organisation (another's is never revealed)."""
    if org_id != user.principal.org_id:
        raise PageError(404, "Deze pagina bestaat niet of is niet voor u.")


AnyUser = Annotated[WebUser, Depends(requires_user())]
MunicipalityUser = Annotated[WebUser, Depends(requires_user(OrgType.municipality))]
ProviderUser = Annotated[WebUser, Depends(requires_user(OrgType.provider))]
PrivacyOfficerUser = Annotated[WebUser, Depends(requires_user(OrgType.privacy_officer))]
OptionalUser = Annotated[WebUser | None, Depends(optional_user)]

CsrfUser = Annotated[WebUser, Depends(requires_form_user())]
CsrfMunicipalityUser = Annotated[WebUser, Depends(requires_form_user(OrgType.municipality))]
CsrfProviderUser = Annotated[WebUser, Depends(requires_form_user(OrgType.provider))]
CsrfPrivacyOfficerUser = Annotated[WebUser, Depends(requires_form_user(OrgType.privacy_officer))]
