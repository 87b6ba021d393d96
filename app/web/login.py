"""Logging in and out of the pages: password, then a TOTP code; logout; enrolling a new second factor.

- ``GET/POST /inloggen``: e-mail and password. The form is protected against cross-site posting
  before there is a session by a double-submit token: a random value in a signed ``HttpOnly``
  cookie and in the form, compared in constant time.
- ``GET/POST /inloggen/code``: the TOTP step. Between the two steps there is a short-lived
  (5 minutes) half-logged-in session of its own; passing the code replaces it by a new full
  session (a new id, so a session id planted before login is worthless).
- ``POST /uitloggen``: ends the session server-side (the old cookie no longer works).
- ``GET/POST /account/tweede-factor``: a new TOTP secret, shown as the ``otpauth://`` URI and
  as text; it replaces the old one only after a code made with it is entered.
- ``/inloggen/oidc/{name}`` and ``/inloggen/oidc/{name}/terug``: see :mod:`app.web.oidc_login`.

Every answer is an audit entry (the middleware audits page paths); a failed login is written
with result ``denied`` and the reason in ``detail`` (``wrong_password``, ``wrong_code``,
``unknown_account``, ``locked`` ...), with the account when there is one, and of the address
only its domain. Error messages never tell whether an address has an account.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from app import dependencies
from app.accounts import service, sessions, totp
from app.accounts.keys import SealedSecretError
from app.audit import log as audit_log
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.runtime import Runtime
from app.web.deps import (
    COOKIE_SALT,
    SESSION_COOKIE,
    AnyUser,
    CsrfUser,
    OptionalUser,
    WebUser,
    account_keys,
    web_user_for,
)
from app.web.errors import PageError, safe_next
from app.web.templating import render

router = APIRouter(include_in_schema=False)

LOGIN_CSRF_COOKIE = "ttp_inlogformulier"
LOGIN_CSRF_SALT = "outcome-ttp/login-form"
CODE_COOKIE = "ttp_inlogcode"
CODE_SALT = "outcome-ttp/login-code"
LOGIN_FORM_MINUTES = 30

WRONG = ("Inloggen is niet gelukt: het e-mailadres, het wachtwoord of de code klopt niet. "
         f"Na {service.MAX_FAILURES} mislukte pogingen op rij wordt inloggen "
         f"{int(service.LOCKOUT.total_seconds() // 60)} minuten geblokkeerd.")
LOCKED = ("Inloggen is tijdelijk geblokkeerd na te veel mislukte pogingen. Probeer het over "
          f"{int(service.LOCKOUT.total_seconds() // 60)} minuten opnieuw.")
FORM_EXPIRED = "Het inlogformulier is verlopen. Vul het opnieuw in."


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """Every cookie of the pages: HttpOnly, Secure, SameSite=Strict, Path=/."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


def _record_lockout(request: Request, session: Session, attempt: service.Attempt) -> None:
    """A lockout is an entry of its own (``web.account.locked``), beside the failure that caused it."""
    if not attempt.locked_now:
        return
    context = audit_context(request)
    account = attempt.account
    audit_log.append(session, audit_log.AuditEvent(
        action="web.account.locked", result="success", request_id=context.request_id,
        client_id=f"user:{account.account_id}" if account else None,
        org_type=account.org_type if account else None, org_id=account.org_id if account else None,
        role=f"web:{account.org_type}" if account else None, resource=context.path, source=context.source,
        detail={"reason": attempt.reason, "failures": service.MAX_FAILURES,
                "locked_minutes": int(service.LOCKOUT.total_seconds() // 60), "known_account": account is not None},
    ))


def _audit_attempt(request: Request, attempt: service.Attempt, email: str | None) -> None:
    context = audit_context(request)
    if attempt.account is not None:
        context.client_id = f"user:{attempt.account.account_id}"
        context.org_type, context.org_id = attempt.account.org_type, attempt.account.org_id
        context.role = f"web:{attempt.account.org_type}"
    context.detail = {"reason": attempt.reason}
    if email:
        context.detail["email_domain"] = service.email_domain(email)
    if attempt.locked_now:
        context.detail["locked_now"] = True
        context.detail["locked_minutes"] = int(service.LOCKOUT.total_seconds() // 60)


# ---- step 1: e-mail and password -----------------------------------------------------------------
def _login_page(request: Request, runtime: Runtime, *, status: int = 200, error: str | None = None,
                notice: str | None = None, email: str = "", volgende: str = "/") -> Response:
    # The token of a form this browser already holds stays valid (a second tab does not void the first).
    token = account_keys(runtime).unsign(request.cookies.get(LOGIN_CSRF_COOKIE, ""), LOGIN_CSRF_SALT)
    token = token or secrets.token_urlsafe(32)
    response = render(request, "login/login.html", status_code=status, error=error, notice=notice, email=email,
                      volgende=safe_next(volgende), csrf_token=token,
                      oidc_providers=_oidc_names())
    set_cookie(response, LOGIN_CSRF_COOKIE, account_keys(runtime).sign(token, LOGIN_CSRF_SALT),
               max_age=LOGIN_FORM_MINUTES * 60)
    return response


def _oidc_names() -> list[tuple[str, str]]:
    from app.accounts import oidc

    return [(p.name, p.label) for p in oidc.configured()]


@router.get("/inloggen", name="page.login")
@audited("web.login.form")
def login_form(request: Request, runtime: RuntimeDep, user: OptionalUser,
               volgende: str = "/", uitgelogd: str | None = None) -> Response:
    audit_context(request).action = "web.login.form"
    if user is not None:
        return RedirectResponse(user.start_page if safe_next(volgende) == "/" else safe_next(volgende), 303)
    notice = "U bent uitgelogd." if uitgelogd else None
    return _login_page(request, runtime, notice=notice, volgende=volgende)


def _form_token_ok(request: Request, runtime: Runtime, given: str, cookie: str, salt: str) -> bool:
    expected = account_keys(runtime).unsign(request.cookies.get(cookie, ""), salt)
    return bool(given) and expected is not None and hmac.compare_digest(expected.encode(), given.encode())


@router.post("/inloggen", name="page.login.submit")
def login_submit(
    request: Request,
    session: dependencies.DbSession,
    runtime: RuntimeDep,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    volgende: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    context = audit_context(request)
    context.action = "web.login.password"
    if not _form_token_ok(request, runtime, csrf_token, LOGIN_CSRF_COOKIE, LOGIN_CSRF_SALT):
        context.detail = {"reason": "csrf"}
        return _login_page(request, runtime, status=403, error=FORM_EXPIRED, email=email, volgende=volgende)
    attempt = service.check_password(session, email, password)
    _audit_attempt(request, attempt, email)
    _record_lockout(request, session, attempt)
    if attempt.outcome is not service.Outcome.ok or attempt.account is None:
        context.commit(session, 401)
        error = LOCKED if attempt.outcome is service.Outcome.locked else WRONG
        return _login_page(request, runtime, status=401, error=error, email=email, volgende=volgende)
    started = sessions.start(session, attempt.account, sessions.CODE)
    context.commit(session, 303)
    response = RedirectResponse("/inloggen/code?volgende=" + _quote(safe_next(volgende)), status_code=303)
    set_cookie(response, CODE_COOKIE, account_keys(runtime).sign(started.raw_id, CODE_SALT),
               max_age=int(sessions.CODE_STAGE.total_seconds()))
    clear_cookie(response, LOGIN_CSRF_COOKIE)
    return response


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


# ---- step 2: the TOTP code -------------------------------------------------------------------------
def _code_session(request: Request, session: Session, runtime: Runtime) -> tuple[str, sessions.WebSession,
                                                                                     service.UserAccount] | None:
    raw_id = account_keys(runtime).unsign(request.cookies.get(CODE_COOKIE, ""), CODE_SALT)
    if raw_id is None:
        return None
    found = sessions.find(session, raw_id, sessions.CODE)
    return (raw_id, *found) if found else None


def _code_page(request: Request, csrf: str, volgende: str, *, status: int = 200, error: str | None = None) -> Response:
    return render(request, "login/code.html", status_code=status, error=error, csrf_token=csrf,
                  volgende=safe_next(volgende))


@router.get("/inloggen/code", name="page.login.code")
def code_form(request: Request, session: dependencies.DbSession, runtime: RuntimeDep,
              volgende: str = "/") -> Response:
    context = audit_context(request)
    context.action = "web.login.code.form"
    found = _code_session(request, session, runtime)
    if found is None:
        session.commit()
        return RedirectResponse("/inloggen", status_code=303)
    _raw, row, account = found
    context.client_id = f"user:{account.account_id}"
    context.org_type, context.org_id = account.org_type, account.org_id
    session.commit()
    return _code_page(request, row.csrf_token, volgende)


@router.post("/inloggen/code", name="page.login.code.submit")
def code_submit(
    request: Request,
    session: dependencies.DbSession,
    runtime: RuntimeDep,
    code: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    volgende: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    context = audit_context(request)
    context.action = "web.login"
    found = _code_session(request, session, runtime)
    if found is None:
        context.detail = {"reason": "no_pending_login"}
        session.commit()
        response = _login_page(request, runtime, status=401, error="Uw inlogpoging is verlopen. Begin opnieuw.",
                               volgende=volgende)
        clear_cookie(response, CODE_COOKIE)
        return response
    raw_id, row, account = found
    if not hmac.compare_digest(csrf_token.encode(), row.csrf_token.encode()):
        context.client_id = f"user:{account.account_id}"
        context.detail = {"reason": "csrf"}
        session.commit()
        return _code_page(request, row.csrf_token, volgende, status=403, error=FORM_EXPIRED)
    attempt = service.check_code(session, account, code, account_keys(runtime))
    _audit_attempt(request, attempt, None)
    _record_lockout(request, session, attempt)
    if attempt.outcome is service.Outcome.locked:
        sessions.end(session, raw_id)
        context.commit(session, 401)
        response = _login_page(request, runtime, status=401, error=LOCKED, volgende=volgende)
        clear_cookie(response, CODE_COOKIE)
        return response
    if attempt.outcome is not service.Outcome.ok:
        context.commit(session, 401)
        return _code_page(request, row.csrf_token, volgende, status=401, error=WRONG)
    sessions.end(session, raw_id)
    new_id, user = start_full_session(request, session, runtime, account, "password+totp")
    target = safe_next(volgende)
    response = RedirectResponse(user.start_page if target == "/" else target, status_code=303)
    set_session_cookie(response, runtime, new_id)
    clear_cookie(response, CODE_COOKIE)
    return response


def start_full_session(request: Request, session: Session, runtime: Runtime, account: service.UserAccount,
                       method: str) -> tuple[str, WebUser]:
    """Log ``account`` in: a new full session and the audit entry (committed); the raw session id
    (for the cookie) and the user."""
    context = audit_context(request)
    now = datetime.now(UTC)
    service.logged_in(account, now)
    sessions.purge_expired(session, now)
    started = sessions.start(session, account, sessions.FULL, now)
    context.client_id = f"user:{account.account_id}"
    context.org_type, context.org_id = account.org_type, account.org_id
    context.role = f"web:{account.org_type}"
    context.detail = {**context.detail, "reason": "ok", "method": method}
    context.commit(session, 303 if method != "oidc" else 200)
    return started.raw_id, web_user_for(account, started.csrf_token, runtime)


def set_session_cookie(response: Response, runtime: Runtime, raw_id: str) -> None:
    set_cookie(response, SESSION_COOKIE, account_keys(runtime).sign(raw_id, COOKIE_SALT))


# ---- logout -----------------------------------------------------------------------------------------
@router.post("/uitloggen", name="page.logout")
@audited("web.logout")
def logout(request: Request, session: dependencies.DbSession, runtime: RuntimeDep, user: CsrfUser) -> Response:
    raw_id = account_keys(runtime).unsign(request.cookies.get(SESSION_COOKIE, ""), COOKIE_SALT)
    if raw_id:
        sessions.end(session, raw_id)
    audit_context(request).commit(session, 303)
    response = RedirectResponse("/inloggen?uitgelogd=1", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


# ---- a new second factor ----------------------------------------------------------------------------
def _enrol_page(request: Request, user: AnyUser, runtime: Runtime, *, status: int = 200,
                error: str | None = None, kept: tuple[str, str] | None = None) -> Response:
    if kept is None:
        secret = totp.new_secret()
        kek_id, sealed = account_keys(runtime).seal(secret, user.account_id, pending=True)
        kept = (secret, f"{kek_id}:{base64.urlsafe_b64encode(sealed).decode()}")
    secret, proposal = kept
    return render(request, "login/tweede_factor.html", status_code=status, error=error, done=False,
                  secret=secret, uri=totp.provisioning_uri(secret, user.email), proposal=proposal)


@router.get("/account/tweede-factor", name="page.account.totp")
@audited("web.account.totp.form")
def totp_form(request: Request, runtime: RuntimeDep, user: AnyUser) -> Response:
    return _enrol_page(request, user, runtime)


@router.post("/account/tweede-factor", name="page.account.totp.submit")
@audited("web.account.totp")
def totp_submit(
    request: Request,
    session: dependencies.DbSession,
    runtime: RuntimeDep,
    user: CsrfUser,
    voorstel: Annotated[str, Form(max_length=400)] = "",
    code: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    context = audit_context(request)
    keys = account_keys(runtime)
    kek_id, _, blob = voorstel.partition(":")
    try:
        secret = keys.open(kek_id, base64.urlsafe_b64decode(blob.encode()), user.account_id, pending=True)
    except (SealedSecretError, binascii.Error, ValueError):
        context.detail = {"reason": "bad_proposal"}
        return _enrol_page(request, user, runtime, status=400, error="Het formulier klopt niet; probeer het opnieuw.")
    step = totp.accepted_step(secret, code, last_step=None)
    account = service.by_account_id(session, user.account_id)
    if step is None or account is None:
        context.detail = {"reason": "wrong_code"}
        return _enrol_page(request, user, runtime, status=400, kept=(secret, voorstel),
                           error="De code klopt niet. Controleer de tijd op uw telefoon en probeer het opnieuw.")
    service.set_totp_secret(session, account, secret, keys)
    account.totp_last_step = step
    context.detail = {"reason": "ok"}
    context.commit(session, 200)
    return render(request, "login/tweede_factor.html", done=True, error=None, secret="", uri="", proposal="")


# ---- OIDC ----------------------------------------------------------------------------------------
OIDC_COOKIE = "ttp_oidc"
OIDC_SALT = "outcome-ttp/oidc-state"


def _callback_url(request: Request, name: str) -> str:
    return str(request.url_for("page.login.oidc.callback", name=name))


@router.get("/inloggen/oidc/{name}", name="page.login.oidc")
def oidc_begin(request: Request, runtime: RuntimeDep, name: str, volgende: str = "/") -> Response:
    from app.accounts import oidc

    context = audit_context(request)
    context.action = "web.login.oidc.begin"
    configured = oidc.provider(name)
    if configured is None:
        raise PageError(404, "Deze inlogmethode bestaat niet.")
    context.detail = {"provider": configured.name}
    try:
        redirect = oidc.begin(configured, _callback_url(request, name), safe_next(volgende))
    except oidc.OidcError as exc:
        raise PageError(503, str(exc)) from None
    response = RedirectResponse(redirect.url, status_code=303)
    # SameSite=Lax, not Strict: the identity provider sends the browser back from another site,
    # and a Strict cookie would not come along. It holds only this attempt's state, nonce and
    # PKCE verifier, signed, and lives ten minutes.
    response.set_cookie(OIDC_COOKIE, account_keys(runtime).sign(oidc.encode_state(redirect.state), OIDC_SALT),
                        max_age=oidc.STATE_LIFETIME_SECONDS, path="/inloggen/oidc", secure=True, httponly=True,
                        samesite="lax")
    return response


@router.get("/inloggen/oidc/{name}/terug", name="page.login.oidc.callback")
def oidc_callback(request: Request, session: dependencies.DbSession, runtime: RuntimeDep, name: str,
                  code: str = "", state: str = "") -> Response:
    from app.accounts import oidc

    context = audit_context(request)
    context.action = "web.login"
    configured = oidc.provider(name)
    if configured is None:
        raise PageError(404, "Deze inlogmethode bestaat niet.")
    context.detail = {"method": "oidc", "provider": configured.name}
    kept = oidc.decode_state(account_keys(runtime).unsign(request.cookies.get(OIDC_COOKIE, ""), OIDC_SALT))
    if kept is None or not code:
        context.detail["reason"] = "no_state"
        raise PageError(401, "De inlogpoging is verlopen of niet hier begonnen; begin opnieuw.")
    try:
        claims = oidc.finish(configured, kept, code=code, state=state, redirect_uri=_callback_url(request, name))
    except oidc.OidcError as exc:
        context.detail["reason"] = "oidc_failed"
        raise PageError(401, str(exc)) from None
    account = oidc.match_account(session, configured, claims)
    if account is None:
        context.detail["reason"] = "unknown_subject"
        session.rollback()
        raise PageError(403, "Er is geen account voor u bij deze dienst. Vraag de beheerder om een account.")
    new_id, user = start_full_session(request, session, runtime, account, "oidc")
    target = safe_next(str(kept.get("next", "/")))
    # The browser came here from the identity provider's site: a SameSite=Strict cookie is not sent
    # along on redirects in that chain, so the next page is reached by a link on this one.
    request.state.web_user = user
    response = render(request, "login/oidc_klaar.html", target=user.start_page if target == "/" else target)
    set_session_cookie(response, runtime, new_id)
    response.delete_cookie(OIDC_COOKIE, path="/inloggen/oidc", secure=True, httponly=True, samesite="lax")
    return response
