"""Accounts without the web app: argon2id passwords, TOTP once per step, sealed secrets, the
lockout, session timeouts, and what can be tested of OIDC without a real identity provider."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from app import db
from app.accounts import oidc, passwords, service, sessions, totp
from app.accounts.keys import AccountKeys, SealedSecretError
from app.crypto.envelope import generate_kek
from app.models import AuditEntry, UserAccount, WebSession
from app.settings import Settings
from app.web.deps import account_keys

PASSWORD = "een-lange-zin-als-wachtwoord"


# ---- passwords ------------------------------------------------------------------------------------
def test_passwords_are_argon2id_with_the_rfc_9106_parameters(production_kdf) -> None:  # type: ignore[no-untyped-def]
    stored = passwords.hash_password(PASSWORD)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PASSWORD not in stored
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.verify_password(PASSWORD + "x", stored)
    assert not passwords.verify_password(PASSWORD, "scrypt$not-argon2")
    assert passwords.hash_password(PASSWORD) != stored, "no salt"


@pytest.mark.parametrize("password, problem", [
    ("kort-123", "minstens 12"),
    ("a" * 129, "hoogstens 128"),
    ("abababababababab", "te weinig verschillende"),
    ("Wachtwoord123", "te bekend"),
    ("jan.jansen-2026!", "e-mailadres"),
])
def test_the_password_policy(password: str, problem: str) -> None:
    found = passwords.policy_problem(password, "jan.jansen@example.nl")
    assert found is not None and problem in found
    assert passwords.policy_problem(PASSWORD, "jan.jansen@example.nl") is None
    assert passwords.policy_problem(passwords.generate_password()) is None


# ---- TOTP ------------------------------------------------------------------------------------------
def test_a_totp_code_is_accepted_once_and_within_one_step() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    now = time.time()
    step = totp.current_step(now)
    assert totp.accepted_step(secret, totp.code_at(secret, step), last_step=None, now=now) == step
    assert totp.accepted_step(secret, totp.code_at(secret, step), last_step=step, now=now) is None, "replay"
    assert totp.accepted_step(secret, totp.code_at(secret, step - 1), last_step=step - 2, now=now) == step - 1
    assert totp.accepted_step(secret, totp.code_at(secret, step + 1), last_step=step, now=now) == step + 1
    for far in (step - 2, step + 2):
        code = totp.code_at(secret, far)
        if code not in {totp.code_at(secret, s) for s in (step - 1, step, step + 1)}:
            assert totp.accepted_step(secret, code, last_step=None, now=now) is None
    assert totp.accepted_step(secret, "12345a", last_step=None, now=now) is None
    assert totp.accepted_step(secret, "", last_step=None, now=now) is None
    uri = totp.provisioning_uri(secret, "a@example.nl")
    assert uri.startswith("otpauth://totp/Outcome%20TTP:a%40example.nl?secret=" + secret)


# ---- keys -----------------------------------------------------------------------------------------
def test_the_totp_secret_is_sealed_to_its_account() -> None:
    kek = generate_kek("kek-1")
    keys = AccountKeys(active=kek, keks={kek.key_id: kek})
    kek_id, sealed = keys.seal("GEHEIM", "acct-1")
    assert b"GEHEIM" not in sealed
    assert keys.open(kek_id, sealed, "acct-1") == "GEHEIM"
    with pytest.raises(SealedSecretError):
        keys.open(kek_id, sealed, "acct-2")
    with pytest.raises(SealedSecretError):
        keys.open(kek_id, sealed, "acct-1", pending=True)
    with pytest.raises(SealedSecretError):
        keys.open("kek-unknown", sealed, "acct-1")
    # a new KEK: old secrets and cookies stay readable while the old KEK is on disk
    newer = generate_kek("kek-2")
    rotated = AccountKeys(active=newer, keks={kek.key_id: kek, newer.key_id: newer})
    assert rotated.open(kek_id, sealed, "acct-1") == "GEHEIM"
    signed = keys.sign("sessie-id", "salt")
    assert rotated.unsign(signed, "salt") == "sessie-id"
    assert rotated.unsign(signed, "another-salt") is None
    assert rotated.unsign(signed[:-2] + "xx", "salt") is None
    assert AccountKeys(active=newer, keks={newer.key_id: newer}).unsign(signed, "salt") is None


# ---- the service, on the real database ---------------------------------------------------------------
def _make(session: Session, app: FastAPI, **overrides: str) -> service.NewAccount:
    runtime = app.state.runtime
    values = {"email": "Kwaliteit@Aanbieder.Example.nl", "org_type": "provider", "org_id": "98301067",
              "password": PASSWORD, **overrides}
    return service.create_account(session, ttp_id=runtime.settings.ttp_id,
                                  known_municipalities=runtime.codelists.municipalities,
                                  keys=account_keys(runtime), **values)


@pytest.mark.parametrize("overrides, field", [
    ({"org_id": "1234567"}, "org_id"),
    ({"org_type": "municipality", "org_id": "GM9999"}, "org_id"),
    ({"org_type": "admin", "org_id": "TTP"}, "org_type"),
    ({"org_type": "privacy_officer", "org_id": "GM0363"}, "org_id"),
    ({"email": "geen-adres"}, "email"),
    ({"password": "kort"}, "password"),
])
def test_an_account_is_bound_to_an_organisation_like_a_client(app: FastAPI, overrides: dict[str, str],
                                                              field: str) -> None:
    with db.session_scope(app.state.runtime.sessions) as session, pytest.raises(service.AccountError) as refused:
        _make(session, app, **overrides)
    assert refused.value.field == field


def test_an_account_stores_no_secret_in_the_clear(app: FastAPI) -> None:
    with db.session_scope(app.state.runtime.sessions) as session:
        made = _make(session, app)
        with pytest.raises(service.AccountError, match="exists"):
            _make(session, app, email=" kwaliteit@aanbieder.example.NL ")
    assert made.email == "kwaliteit@aanbieder.example.nl"
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount)).scalar_one()
        assert account.password_hash and account.password_hash.startswith("$argon2id$")
        assert made.totp_secret and account.totp_sealed
        assert made.totp_secret.encode() not in bytes(account.totp_sealed)
        assert service.totp_secret(account, account_keys(app.state.runtime)) == made.totp_secret


def test_rewrap_reseals_totp_secrets_under_the_new_key(app: FastAPI) -> None:
    old = account_keys(app.state.runtime)
    newer = generate_kek("kek-newer")
    rotated = AccountKeys(active=newer, keks={**old.keks, newer.key_id: newer})
    with db.session_scope(app.state.runtime.sessions) as session:
        made = _make(session, app)
        assert service.reseal_totp_secrets(session, rotated) == 1
        assert service.reseal_totp_secrets(session, rotated) == 0
        account = session.execute(select(UserAccount)).scalar_one()
        assert account.totp_kek_id == "kek-newer"
        only_new = AccountKeys(active=newer, keks={newer.key_id: newer})
        assert service.totp_secret(account, only_new) == made.totp_secret


def test_five_failures_lock_for_fifteen_minutes(app: FastAPI) -> None:
    now = datetime.now(UTC)
    with db.session_scope(app.state.runtime.sessions) as session:
        made = _make(session, app)
        for attempt in range(service.MAX_FAILURES):
            result = service.check_password(session, made.email, "fout-wachtwoord-123", now)
            assert result.outcome is (service.Outcome.locked if attempt == 4 else service.Outcome.wrong)
        assert result.locked_now
        assert service.check_password(session, made.email, PASSWORD, now).outcome is service.Outcome.locked
        later = now + service.LOCKOUT - timedelta(seconds=1)
        assert service.check_password(session, made.email, PASSWORD, later).outcome is service.Outcome.locked
        after = now + service.LOCKOUT + timedelta(seconds=1)
        ok = service.check_password(session, made.email, PASSWORD, after)
        assert ok.outcome is service.Outcome.ok
        # wrong codes count too, and a right code resets the count
        assert ok.account is not None and made.totp_secret
        keys = account_keys(app.state.runtime)
        for _ in range(service.MAX_FAILURES - 1):
            assert service.check_code(session, ok.account, "000000x", keys, after).outcome is service.Outcome.wrong
        good = totp.code_at(made.totp_secret, totp.current_step(after.timestamp()))
        assert service.check_code(session, ok.account, good, keys, after).outcome is service.Outcome.ok
        assert ok.account.failed_attempts == 0
        service.set_disabled(session, ok.account)
        assert service.check_password(session, made.email, PASSWORD, after).reason == "disabled"


def test_an_unknown_address_locks_like_a_real_one(app: FastAPI) -> None:
    service.UNKNOWN_ADDRESSES.clear()
    now = datetime.now(UTC)
    with db.session_scope(app.state.runtime.sessions) as session:
        outcomes = [service.check_password(session, "niemand@example.nl", PASSWORD, now).outcome for _ in range(6)]
    assert outcomes == [service.Outcome.wrong] * 4 + [service.Outcome.locked] * 2
    service.UNKNOWN_ADDRESSES.clear()


def test_sessions_end_when_idle_at_their_lifetime_and_at_logout(app: FastAPI) -> None:
    now = datetime.now(UTC)
    with db.session_scope(app.state.runtime.sessions) as session:
        _make(session, app)
        account = session.execute(select(UserAccount)).scalar_one()
        full = sessions.start(session, account, sessions.FULL, now)
        assert sessions.find(session, full.raw_id, sessions.CODE, now) is None, "a full session is not a code one"
        step = now
        while step < now + sessions.ABSOLUTE - sessions.IDLE:  # active every 14 minutes: alive until 8 h
            step += timedelta(minutes=14)
            assert sessions.find(session, full.raw_id, sessions.FULL, step) is not None
        assert sessions.find(session, full.raw_id, sessions.FULL, now + sessions.ABSOLUTE) is None
        idle = sessions.start(session, account, sessions.FULL, now)
        assert sessions.find(session, idle.raw_id, sessions.FULL, now + timedelta(minutes=14)) is not None
        assert sessions.find(session, idle.raw_id, sessions.FULL, now + timedelta(minutes=29, seconds=1)) is None
        code = sessions.start(session, account, sessions.CODE, now)
        assert sessions.find(session, code.raw_id, sessions.CODE, now + timedelta(minutes=5)) is None
        ended = sessions.start(session, account, sessions.FULL, now)
        assert sessions.end(session, ended.raw_id)
        assert sessions.find(session, ended.raw_id, sessions.FULL, now) is None


# ---- OIDC (no real identity provider here: configuration, the redirect, the ID token, matching) ---------
PROVIDER = {
    "name": "utrecht", "label": "Gemeente Utrecht", "issuer": "https://idp.utrecht.example",
    "client_id": "outcome-ttp", "client_secret": "s3cret",
    "authorization_endpoint": "https://idp.utrecht.example/authorize",
    "token_endpoint": "https://idp.utrecht.example/token", "jwks_uri": "https://idp.utrecht.example/jwks",
    "org_type": "municipality", "org_id": "GM0344",
}


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> oidc.OidcProvider:
    monkeypatch.setenv("TTP_OIDC_PROVIDERS", json.dumps([PROVIDER]))
    found = oidc.provider("utrecht")
    assert found is not None
    return found


def test_oidc_redirect_carries_state_nonce_and_pkce(configured: oidc.OidcProvider) -> None:
    assert oidc.provider("elders") is None
    redirect = oidc.begin(configured, "https://ttp.example/inloggen/oidc/utrecht/terug", "/gemeente/GM0344")
    url = urlsplit(redirect.url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == PROVIDER["authorization_endpoint"]
    assert query["response_type"] == "code" and query["client_id"] == "outcome-ttp"
    assert query["state"] == redirect.state["s"] and len(query["state"]) >= 20
    assert query["nonce"] == redirect.state["n"]
    assert query["code_challenge_method"] == "S256" and query["code_challenge"] != redirect.state["v"]
    assert query["redirect_uri"] == "https://ttp.example/inloggen/oidc/utrecht/terug"
    assert "openid" in query["scope"]
    kept = oidc.decode_state(oidc.encode_state(redirect.state))
    assert kept == redirect.state
    assert oidc.decode_state(oidc.encode_state({**redirect.state, "t": int(time.time()) - 601})) is None
    with pytest.raises(oidc.OidcError):
        oidc.finish(configured, kept, code="c", state="another-state", redirect_uri="https://ttp.example/x")


def test_oidc_id_token_is_verified(configured: oidc.OidcProvider) -> None:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    keys = KeySet.import_key_set(KeySet([key]).as_dict(private=False))
    now = int(time.time())
    claims = {"iss": PROVIDER["issuer"], "aud": "outcome-ttp", "sub": "u-1", "nonce": "n-1", "exp": now + 60,
              "iat": now}

    def token(**changes: object) -> str:
        return jwt.encode({"alg": "RS256", "kid": "k1"}, {**claims, **changes}, key)

    assert oidc.verify_id_token(configured, token(), keys, nonce="n-1")["sub"] == "u-1"
    for changes in ({"nonce": "n-2"}, {"aud": "another-client"}, {"iss": "https://evil.example"},
                    {"exp": now - 10}):
        with pytest.raises(oidc.OidcError):
            oidc.verify_id_token(configured, token(**changes), keys, nonce="n-1")
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
    with pytest.raises(oidc.OidcError):
        oidc.verify_id_token(configured, jwt.encode({"alg": "RS256", "kid": "k1"}, claims, other), keys, nonce="n-1")


def test_oidc_refuses_unknown_subjects_and_other_organisations(app: FastAPI, configured: oidc.OidcProvider) -> None:
    with db.session_scope(app.state.runtime.sessions) as session:
        mine = _make(session, app, email="analist@utrecht.example.nl", org_type="municipality", org_id="GM0344")
        _make(session, app, email="analist@amsterdam.example.nl", org_type="municipality", org_id="GM0363")
        base = {"iss": PROVIDER["issuer"], "sub": "u-1"}
        assert oidc.match_account(session, configured, base) is None, "an unknown subject was let in"
        unverified = {**base, "email": mine.email, "email_verified": False}
        assert oidc.match_account(session, configured, unverified) is None
        elsewhere = {**base, "email": "analist@amsterdam.example.nl", "email_verified": True}
        assert oidc.match_account(session, configured, elsewhere) is None, "another organisation's account"
        verified = {**base, "email": mine.email.upper(), "email_verified": True}
        bound = oidc.match_account(session, configured, verified)
        assert bound is not None and bound.account_id == mine.account_id
        assert (bound.oidc_issuer, bound.oidc_subject) == (PROVIDER["issuer"], "u-1")
        assert oidc.match_account(session, configured, base) is bound, "bound: the subject alone is enough"
        stolen = {"iss": PROVIDER["issuer"], "sub": "u-2", "email": mine.email, "email_verified": True}
        assert oidc.match_account(session, configured, stolen) is None, "a second subject took a bound account"
        service.set_disabled(session, bound)
        assert oidc.match_account(session, configured, base) is None


def test_oidc_pages(api: TestClient, configured: oidc.OidcProvider) -> None:
    login = api.get("/inloggen")
    assert "Inloggen via Gemeente Utrecht" in login.text
    begin = api.get("/inloggen/oidc/utrecht", params={"volgende": "/gemeente/GM0344"}, follow_redirects=False)
    assert begin.status_code == 303
    assert begin.headers["location"].startswith(PROVIDER["authorization_endpoint"] + "?")
    cookie, = [c for c in begin.headers.get_list("set-cookie") if c.startswith("ttp_oidc=")]
    assert {"httponly", "secure", "samesite=lax"} <= {p.strip().lower() for p in cookie.split(";")}
    assert api.get("/inloggen/oidc/elders", follow_redirects=False).status_code == 404
    api.cookies.clear()
    stray = api.get("/inloggen/oidc/utrecht/terug", params={"code": "c", "state": "s"})
    assert stray.status_code == 401
    assert "niet hier begonnen" in stray.text


# ---- ttp users ------------------------------------------------------------------------------------------
def test_ttp_users_commands(app: FastAPI, settings: Settings) -> None:
    from app.cli import cli

    env = {"TTP_DATA_DIR": str(settings.data_dir), "TTP_DATABASE_URL": settings.resolved_database_url,
           "TTP_KEY_DIR": str(settings.key_dir), "TTP_PRIVACY_CONFIG": str(settings.privacy_config),
           "TTP_LOG_LEVEL": "WARNING"}

    def ttp(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    added = ttp("users", "add", "--org-type", "municipality", "--org-id", "GM0344", "--email",
                "Analist@Utrecht.Example.nl", "--json")
    assert added.exit_code == 0, added.output
    made = json.loads(added.stdout)
    assert made["email"] == "analist@utrecht.example.nl" and len(made["totp_secret"]) == 32
    assert passwords.policy_problem(made["password"]) is None
    refused = ttp("users", "add", "--org-type", "provider", "--org-id", "1234", "--email", "x@example.nl")
    assert refused.exit_code != 0 and "AGB" in refused.output
    listed = ttp("users", "list")
    assert "analist@utrecht.example.nl" in listed.stdout and made["password"] not in listed.stdout
    assert made["totp_secret"] not in listed.stdout
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount)).scalar_one()
        sessions.start(session, account, sessions.FULL)
    assert ttp("users", "disable", "--email", "analist@utrecht.example.nl").exit_code == 0
    reset = ttp("users", "reset-password", "--email", "analist@utrecht.example.nl")
    assert reset.exit_code == 0
    new_password = reset.stdout.split("password: ")[1].split()[0]
    with db.session_scope(app.state.runtime.sessions) as session:
        account = session.execute(select(UserAccount)).scalar_one()
        assert account.disabled and account.password_hash
        assert passwords.verify_password(new_password, account.password_hash)
        assert session.execute(select(WebSession)).first() is None, "disabling left a session"
        audit = session.execute(select(AuditEntry).where(AuditEntry.action.like("users.%"))
                                .order_by(AuditEntry.seq)).scalars().all()
        assert [a.action for a in audit] == ["users.add", "users.disable", "users.reset_password"]
        assert all(a.resource == f"users/{made['account_id']}" for a in audit)
        logged = " ".join(str(a.detail) for a in audit)
        assert "analist" not in logged and made["password"] not in logged
