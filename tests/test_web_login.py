"""Logging in to the pages over real HTTP: password and TOTP, lockout, cookies, CSRF, logout,
idle timeout, and the audit entries each step leaves."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app import db
from app.accounts import service, totp
from app.auth.principal import audited
from app.models import AuditEntry, UserAccount, WebSession
from app.web.deps import (
    SESSION_COOKIE,
    CsrfMunicipalityUser,
    MunicipalityUser,
    PrivacyOfficerUser,
    account_keys,
    own_organisation,
)

PASSWORD = "lange-zin-als-wachtwoord-2026"
EMAIL = "Analist@Amsterdam.example.nl"

probe = APIRouter(include_in_schema=False)


@probe.get("/gemeente/{code}/testpagina", name="page.test.municipality")
@audited("page.test.municipality")
def municipality_page(request: Request, user: MunicipalityUser, code: str) -> HTMLResponse:
    own_organisation(user, code)
    return HTMLResponse(f"<p>Pagina van {user.organisation_label}</p>")


@probe.post("/gemeente/{code}/testformulier", name="page.test.form")
@audited("page.test.form")
def municipality_form(request: Request, user: CsrfMunicipalityUser, code: str) -> HTMLResponse:
    own_organisation(user, code)
    request.app.state.test_form_posts = getattr(request.app.state, "test_form_posts", 0) + 1
    return HTMLResponse("<p>opgeslagen</p>")


@probe.get("/privacy/testpagina", name="page.test.privacy")
@audited("page.test.privacy")
def privacy_page(request: Request, user: PrivacyOfficerUser) -> HTMLResponse:
    return HTMLResponse("<p>privacy</p>")


@pytest.fixture
def web(app: FastAPI, api: TestClient) -> Iterator[TestClient]:
    app.include_router(probe)
    service.UNKNOWN_ADDRESSES.clear()
    yield api
    service.UNKNOWN_ADDRESSES.clear()


def make_account(app: FastAPI, org_type: str = "municipality", org_id: str = "GM0363",
                 email: str = EMAIL) -> service.NewAccount:
    runtime = app.state.runtime
    with db.session_scope(runtime.sessions) as session:
        return service.create_account(
            session, email=email, org_type=org_type, org_id=org_id, ttp_id=runtime.settings.ttp_id,
            known_municipalities=runtime.codelists.municipalities, keys=account_keys(runtime), password=PASSWORD,
        )


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no field {name} in the page"
    return found.group(1)


def code(secret: str, offset: int = 0) -> str:
    return totp.code_at(secret, totp.current_step() + offset)


def post_password(web: TestClient, email: str, password: str, volgende: str = "/") -> Any:
    form = web.get("/inloggen", params={"volgende": volgende})
    assert form.status_code == 200
    return web.post("/inloggen", data={"email": email, "password": password, "volgende": volgende,
                                       "csrf_token": field(form.text, "csrf_token")}, follow_redirects=False)


def post_code(web: TestClient, value: str, at: str = "/inloggen/code") -> Any:
    page = web.get(at, follow_redirects=False)
    assert page.status_code == 200, page.text
    return web.post("/inloggen/code", data={"code": value, "csrf_token": field(page.text, "csrf_token"),
                                            "volgende": field(page.text, "volgende")}, follow_redirects=False)


def login(web: TestClient, made: service.NewAccount, offset: int = -1) -> Any:
    assert made.totp_secret
    first = post_password(web, made.email, PASSWORD)
    assert first.status_code == 303 and first.headers["location"].startswith("/inloggen/code"), first.text
    # The previous step's code is accepted only until the current step ends: close to its end, wait
    # for the next step to begin (the clock moving on), so that the server still accepts it.
    if offset < 0:
        step = totp.current_step()
        while totp.current_step(time.time() + 3) != step and totp.current_step() == step:
            time.sleep(0.1)
    return post_code(web, code(made.totp_secret, offset))


def entries(app: FastAPI, action: str) -> list[AuditEntry]:
    with db.session_scope(app.state.runtime.sessions) as session:
        rows = session.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        found = list(rows.scalars())
        session.expunge_all()
        return found


def test_password_and_code_reach_the_start_page(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    answer = login(web, made)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/gemeente/GM0363"
    assert web.get("/", follow_redirects=False).headers["location"] == "/gemeente/GM0363"
    page = web.get("/gemeente/GM0363/testpagina")
    assert page.status_code == 200
    assert "Gemeente Amsterdam (GM0363)" in page.text
    # the audit log: the password step, the login, the page view; never the password or the address
    password_step, = entries(app, "web.login.password")
    assert (password_step.result, password_step.client_id) == ("success", f"user:{made.account_id}")
    logged_in, = entries(app, "web.login")
    assert (logged_in.result, logged_in.org_type, logged_in.org_id) == ("success", "municipality", "GM0363")
    assert logged_in.detail == {"reason": "ok", "method": "password+totp"}
    view, = entries(app, "page.test.municipality")
    assert (view.client_id, view.role, view.resource) == (f"user:{made.account_id}", "web:municipality",
                                                          "/gemeente/GM0363/testpagina")
    with db.session_scope(app.state.runtime.sessions) as session:
        everything = " ".join(str(row.detail) + str(row.resource) for row in session.execute(
            select(AuditEntry)).scalars())
    assert PASSWORD not in everything and "analist" not in everything.lower()


def test_the_next_page_is_kept_through_both_steps(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    bounced = web.get("/gemeente/GM0363/testpagina", follow_redirects=False)
    assert bounced.status_code == 303
    assert bounced.headers["location"] == "/inloggen?volgende=/gemeente/GM0363/testpagina"
    denied, = entries(app, "page.test.municipality")
    assert (denied.result, denied.status) == ("denied", 303)
    assert made.totp_secret
    first = post_password(web, made.email, PASSWORD, volgende="/gemeente/GM0363/testpagina")
    answer = post_code(web, code(made.totp_secret), at=first.headers["location"])
    assert answer.headers["location"] == "/gemeente/GM0363/testpagina"
    # another site as the next page is not followed
    web.cookies.clear()
    first = post_password(web, made.email, PASSWORD, volgende="//evil.example/")
    assert post_code(web, code(made.totp_secret, 1), at=first.headers["location"]).headers["location"] == (
        "/gemeente/GM0363")


def test_a_wrong_code_is_refused_and_a_code_works_once(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    assert made.totp_secret
    post_password(web, made.email, PASSWORD)
    wrong = post_code(web, "000000" if code(made.totp_secret) != "000000" else "111111")
    assert wrong.status_code == 401
    assert "Inloggen is niet gelukt" in wrong.text
    assert SESSION_COOKIE not in web.cookies
    assert entries(app, "web.login")[-1].detail == {"reason": "wrong_code"}
    used = code(made.totp_secret)
    assert post_code(web, used).status_code == 303
    web.cookies.clear()
    post_password(web, made.email, PASSWORD)
    replay = post_code(web, used)
    assert replay.status_code == 401, "the same code was accepted twice"
    assert "Inloggen is niet gelukt" in replay.text


def test_five_failures_lock_the_account_and_the_right_password_is_refused(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    for attempt in range(service.MAX_FAILURES):
        answer = post_password(web, made.email, "niet-het-goede-wachtwoord")
        assert answer.status_code == 401
        expected = "tijdelijk geblokkeerd" if attempt == service.MAX_FAILURES - 1 else "Inloggen is niet gelukt"
        assert expected in answer.text
    refused = post_password(web, made.email, PASSWORD)
    assert refused.status_code == 401
    assert "tijdelijk geblokkeerd" in refused.text
    assert "inloggen/code" not in refused.headers.get("location", "")
    failures = entries(app, "web.login.password")
    assert [e.result for e in failures] == ["denied"] * 6
    assert failures[4].detail is not None and failures[4].detail["locked_now"] is True
    assert failures[5].detail == {"reason": "locked", "email_domain": "amsterdam.example.nl"}
    assert all(e.client_id == f"user:{made.account_id}" for e in failures)
    locked, = entries(app, "web.account.locked")
    assert (locked.client_id, locked.org_id) == (f"user:{made.account_id}", "GM0363")
    assert locked.detail == {"reason": "wrong_password", "failures": 5, "locked_minutes": 15, "known_account": True}
    # after the lockout period the right password works again
    with db.session_scope(app.state.runtime.sessions) as session:
        session.execute(update(UserAccount).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert login(web, made).status_code == 303


def test_an_unknown_address_gets_the_same_answers(app: FastAPI, web: TestClient) -> None:
    make_account(app)
    answers = [post_password(web, "niemand@example.nl", PASSWORD) for _ in range(service.MAX_FAILURES + 1)]
    assert [a.status_code for a in answers] == [401] * 6
    assert "Inloggen is niet gelukt" in answers[0].text
    assert "tijdelijk geblokkeerd" in answers[-1].text
    first = entries(app, "web.login.password")[0]
    assert first.client_id is None
    assert first.detail == {"reason": "unknown_account", "email_domain": "example.nl"}


def test_the_session_cookie_is_httponly_secure_samesite_strict(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    form = web.get("/inloggen")
    assert _flags(form.headers.get_list("set-cookie"), "ttp_inlogformulier")
    answer = login(web, made)
    assert _flags(answer.headers.get_list("set-cookie"), SESSION_COOKIE)


def _flags(headers: list[str], name: str) -> bool:
    cookie, = [h for h in headers if h.startswith(f"{name}=")]
    parts = {p.strip().lower() for p in cookie.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/"} <= parts, cookie
    return True


def test_logout_ends_the_session_and_the_old_cookie_no_longer_works(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    login(web, made)
    old = web.cookies[SESSION_COOKIE]
    page = web.get("/gemeente/GM0363/testpagina")
    assert page.status_code == 200
    start = web.get("/inloggen", follow_redirects=False)  # logged in: sent on to the start page
    assert start.status_code == 303
    csrf = _csrf_of(app, made)
    out = web.post("/uitloggen", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/inloggen?uitgelogd=1"
    assert "U bent uitgelogd" in web.get("/inloggen?uitgelogd=1").text
    web.cookies.set(SESSION_COOKIE, old, domain="testserver")
    again = web.get("/gemeente/GM0363/testpagina", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].startswith("/inloggen")
    logout, = entries(app, "web.logout")
    assert (logout.result, logout.client_id) == ("success", f"user:{made.account_id}")


def _csrf_of(app: FastAPI, made: service.NewAccount) -> str:
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount).where(UserAccount.account_id == made.account_id)).scalar_one()
        return session.execute(select(WebSession.csrf_token).where(
            WebSession.account_pk == account.id, WebSession.stage == "full")).scalar_one()


def test_a_form_without_its_csrf_token_is_refused_and_nothing_changes(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    login(web, made)
    for data in ({}, {"csrf_token": "niet-het-goede"}):
        refused = web.post("/gemeente/GM0363/testformulier", data=data)
        assert refused.status_code == 403
        assert "Dit formulier is verlopen" in refused.text
        logout = web.post("/uitloggen", data=data, follow_redirects=False)
        assert logout.status_code == 403
    assert getattr(app.state, "test_form_posts", 0) == 0
    assert web.get("/gemeente/GM0363/testpagina").status_code == 200, "the refused logout ended the session"
    assert web.post("/gemeente/GM0363/testformulier", data={"csrf_token": _csrf_of(app, made)}).status_code == 200
    assert app.state.test_form_posts == 1
    # the login form itself: without the token from the page (and its cookie) it is refused,
    # and the failure is not counted against the account
    web.cookies.clear()
    bare = web.post("/inloggen", data={"email": made.email, "password": "fout-wachtwoord-123"})
    assert bare.status_code == 403
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount)).scalar_one()
        assert account.failed_attempts == 0


def test_another_organisations_page_is_not_found_and_another_kind_is_forbidden(app: FastAPI,
                                                                                web: TestClient) -> None:
    made = make_account(app)
    login(web, made)
    other = web.get("/gemeente/GM0344/testpagina")
    assert other.status_code == 404
    assert "Deze pagina bestaat niet" in other.text
    assert "Utrecht" not in other.text
    officer = web.get("/privacy/testpagina")
    assert officer.status_code == 403
    assert "Geen toegang" in officer.text
    by_form = web.post("/gemeente/GM0344/testformulier", data={"csrf_token": _csrf_of(app, made)})
    assert by_form.status_code == 404
    assert getattr(app.state, "test_form_posts", 0) == 0
    unknown = web.get("/gemeente/GM0363/bestaat-niet")
    assert unknown.status_code == 404 and "text/html" in unknown.headers["content-type"]
    assert web.get("/v1/bestaat-niet").headers["content-type"].startswith("application/problem+json")


def test_an_idle_session_ends(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    login(web, made)
    assert web.get("/gemeente/GM0363/testpagina").status_code == 200
    with db.session_scope(app.state.runtime.sessions) as session:
        session.execute(update(WebSession).values(last_seen_at=datetime.now(UTC) - timedelta(minutes=16)))
    idle = web.get("/gemeente/GM0363/testpagina", follow_redirects=False)
    assert idle.status_code == 303
    assert idle.headers["location"] == "/inloggen?volgende=/gemeente/GM0363/testpagina"
    with db.session_scope(app.state.runtime.sessions) as session:
        assert session.execute(select(WebSession)).first() is None, "the idle session was not removed"


def test_a_new_second_factor_replaces_the_old_one_only_after_a_code(app: FastAPI, web: TestClient) -> None:
    made = make_account(app)
    login(web, made)
    page = web.get("/account/tweede-factor")
    assert page.status_code == 200
    assert "otpauth://totp/Outcome%20TTP:" in page.text
    secret = re.search(r'<code class="ttp-secret__value">([A-Z2-7]{32})</code>', page.text)
    assert secret
    csrf, proposal = field(page.text, "csrf_token"), field(page.text, "voorstel")
    wrong = web.post("/account/tweede-factor", data={"csrf_token": csrf, "voorstel": proposal, "code": "12345"})
    assert wrong.status_code == 400 and "De code klopt niet" in wrong.text
    done = web.post("/account/tweede-factor", data={"csrf_token": csrf, "voorstel": proposal,
                                                    "code": code(secret.group(1))})
    assert done.status_code == 200 and "De nieuwe tweede factor is ingesteld" in done.text
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount)).scalar_one()
        assert service.totp_secret(account, account_keys(app.state.runtime)) == secret.group(1)
