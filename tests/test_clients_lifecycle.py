"""The life of a machine client: disable and enable, rotate its secret with a grace, register or
replace its public key, list with its last use; from the admin API and the command line, each an
audit entry. Played by the attacker where it matters: a disabled client's token, an old secret
after its grace."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from app import db
from app.models import AuditEntry, Client
from app.settings import Settings
from tests.conftest import Credentials
from tests.test_http_conventions import assert_problem
from tests.test_tokens import es256_signer, raw_jwt

TOKEN = "/v1/oauth/token"
GRANT = {"grant_type": "client_credentials"}
MakeClient = Callable[..., Credentials]
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token(api: TestClient, credentials: Credentials) -> str:
    response = api.post(TOKEN, data=GRANT, headers=credentials.basic())
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def audit(app: FastAPI, prefix: str = "clients.") -> list[AuditEntry]:
    with db.session_scope(app.state.runtime.sessions) as session:
        return list(session.execute(select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%"))
                                    .order_by(AuditEntry.seq)).scalars())


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def assertion(client_id: str, key: ec.EllipticCurvePrivateKey) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "https://testserver/v1/oauth/token",
              "iat": now, "exp": now + 60, "jti": f"jti-{time.perf_counter_ns()}"}
    return raw_jwt({"alg": "ES256", "typ": "JWT"}, claims, es256_signer(key))


@pytest.fixture
def admin(api: TestClient, make_client: MakeClient) -> dict[str, str]:
    return bearer(token(api, make_client("admin", "TTP")))


# ---- disable and enable -------------------------------------------------------------------------------
def test_a_disabled_clients_unexpired_token_is_refused_at_once(api: TestClient, app: FastAPI, make_client: MakeClient,
                                                               admin: dict[str, str]) -> None:
    municipality = make_client("municipality", "GM0363")
    headers = bearer(token(api, municipality))
    report = "/v1/reports/municipalities/GM0363?period=2025"
    assert api.get(report, headers=headers).status_code not in (401, 403)
    disabled = api.post(f"/v1/clients/{municipality.client_id}/disable", headers=admin)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["active"] is False
    body = assert_problem(api.get(report, headers=headers), 401)
    assert "disabled" in body["detail"]
    assert_problem(api.post(TOKEN, data=GRANT, headers=municipality.basic()), 401)
    # A second app over the same database (another worker) refuses the token too: nothing is cached.
    from app.main import create_app

    with TestClient(create_app(app.state.runtime.settings), base_url="https://testserver") as other:
        assert other.get(report, headers=headers).status_code == 401
    enabled = api.post(f"/v1/clients/{municipality.client_id}/enable", headers=admin)
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    assert api.get(report, headers=headers).status_code not in (401, 403)
    assert token(api, municipality)
    assert_problem(api.post("/v1/clients/muni-0000000000000000/disable", headers=admin), 404)
    entries = audit(app)
    assert [(e.action, e.resource, e.result) for e in entries] == [
        ("clients.disable", f"clients/{municipality.client_id}", "success"),
        ("clients.enable", f"clients/{municipality.client_id}", "success"),
        ("clients.disable", "clients/muni-0000000000000000", "not_found"),
    ]


def test_only_an_admin_manages_clients(api: TestClient, make_client: MakeClient) -> None:
    municipality = make_client("municipality", "GM0363")
    headers = bearer(token(api, municipality))
    for method, path in (("post", "disable"), ("post", "enable"), ("post", "rotate-secret")):
        assert_problem(getattr(api, method)(f"/v1/clients/{municipality.client_id}/{path}", headers=headers), 403)
    assert_problem(api.put(f"/v1/clients/{municipality.client_id}/public-key", headers=headers,
                           json={"public_key_pem": pem(ec.generate_private_key(ec.SECP256R1()))}), 403)


# ---- rotation -------------------------------------------------------------------------------------------
def test_an_old_secret_works_during_the_grace_and_not_after(api: TestClient, app: FastAPI, make_client: MakeClient,
                                                            admin: dict[str, str]) -> None:
    provider = make_client("provider", "40000001")
    rotated = api.post(f"/v1/clients/{provider.client_id}/rotate-secret", headers=admin)
    assert rotated.status_code == 200, rotated.text
    new = Credentials(provider.client_id, rotated.json()["client_secret"])
    until = datetime.fromisoformat(rotated.json()["previous_secret_valid_until"])
    assert timedelta(hours=23, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=24)
    assert new.client_secret != provider.client_secret
    assert token(api, new) and token(api, provider), "both work during the grace"
    # The clock moves on by the stored rotation time: 24 hours and a second ago.
    with db.session_scope(app.state.runtime.sessions) as session:
        session.execute(update(Client).where(Client.client_id == provider.client_id).values(
            secret_rotated_at=datetime.now(UTC) - timedelta(hours=24, seconds=1)))
    assert_problem(api.post(TOKEN, data=GRANT, headers=provider.basic()), 401)
    assert token(api, new)
    listed = {c["client_id"]: c for c in api.get("/v1/clients", headers=admin).json()}
    assert listed[provider.client_id]["previous_secret_valid_until"] is None
    with db.session_scope(app.state.runtime.sessions) as session:
        stored = session.execute(select(Client).where(Client.client_id == provider.client_id)).scalar_one()
        assert new.client_secret not in (stored.secret_hash or "") + (stored.previous_secret_hash or "")
    [entry] = audit(app, "clients.rotate")
    assert entry.action == "clients.rotate_secret" and new.client_secret not in json.dumps(entry.detail)


# ---- public keys ---------------------------------------------------------------------------------------
def test_register_and_replace_a_public_key(api: TestClient, app: FastAPI, make_client: MakeClient,
                                           admin: dict[str, str]) -> None:
    provider = make_client("provider", "40000001")
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def with_key(key: ec.EllipticCurvePrivateKey) -> int:
        return api.post(TOKEN, data={**GRANT, "client_assertion_type": JWT_BEARER,
                                     "client_assertion": assertion(provider.client_id, key)}).status_code

    assert with_key(first) == 401
    put = api.put(f"/v1/clients/{provider.client_id}/public-key", headers=admin, json={"public_key_pem": pem(first)})
    assert put.status_code == 200, put.text
    assert put.json()["auth_methods"] == ["client_secret", "private_key_jwt"]
    assert with_key(first) == 200 and token(api, provider)
    assert api.put(f"/v1/clients/{provider.client_id}/public-key", headers=admin,
                   json={"public_key_pem": pem(second)}).status_code == 200
    assert with_key(first) == 401 and with_key(second) == 200
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for bad in (pem(weak), "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
                pem(ec.generate_private_key(ec.SECP384R1()))):
        body = assert_problem(api.put(f"/v1/clients/{provider.client_id}/public-key", headers=admin,
                                      json={"public_key_pem": bad}), 400)
        assert body["errors"][0]["field"] == "public_key_pem"
    assert with_key(second) == 200, "a refused key replaces nothing"
    assert [(e.action, e.detail and e.detail.get("replaced")) for e in audit(app) if e.status == 200] == [
        ("clients.set_key", False), ("clients.set_key", True)]


# ---- listing ------------------------------------------------------------------------------------------
def test_the_list_shows_last_use_and_never_a_secret(api: TestClient, make_client: MakeClient,
                                                  admin: dict[str, str]) -> None:
    municipality = make_client("municipality", "GM0363")
    before = {c["client_id"]: c for c in api.get("/v1/clients", headers=admin).json()}
    assert before[municipality.client_id]["last_token_at"] is None
    token(api, municipality)
    response = api.get("/v1/clients", headers=admin)
    after = {c["client_id"]: c for c in response.json()}
    used = datetime.fromisoformat(after[municipality.client_id]["last_token_at"])
    assert abs((datetime.now(UTC) - used).total_seconds()) < 60
    assert municipality.client_secret not in response.text and "scrypt" not in response.text


# ---- the command line -------------------------------------------------------------------------------------
def test_ttp_clients_commands_are_audited(api: TestClient, app: FastAPI, settings: Settings, tmp_path: Path) -> None:
    from app.cli import cli

    env = {"TTP_DATA_DIR": str(settings.data_dir), "TTP_DATABASE_URL": settings.resolved_database_url,
           "TTP_KEY_DIR": str(settings.key_dir), "TTP_PRIVACY_CONFIG": str(settings.privacy_config),
           "TTP_LOG_LEVEL": "WARNING"}

    def ttp(*args: str) -> Result:
        result = CliRunner().invoke(cli, list(args), env=env)
        assert result.exit_code == 0, result.output
        return result

    made = json.loads(ttp("clients", "add", "--org-type", "provider", "--org-id", "40000001", "--name",
                          "Zorg BV", "--json").stdout)
    client_id, first_secret = made["client_id"], made["client_secret"]
    first = Credentials(client_id, first_secret)
    headers = bearer(token(api, first))
    ttp("clients", "disable", "--client-id", client_id)
    assert api.get("/v1/consents/none", headers=headers).status_code == 401
    ttp("clients", "enable", "--client-id", client_id)
    rotated = json.loads(ttp("clients", "rotate-secret", "--client-id", client_id, "--json").stdout)
    assert token(api, Credentials(client_id, rotated["client_secret"])) and token(api, first)
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem(ec.generate_private_key(ec.SECP256R1())))
    ttp("clients", "set-key", "--client-id", client_id, "--public-key", str(key_file))
    listed = [json.loads(line) for line in ttp("clients", "list", "--json").stdout.splitlines()]
    [row] = [r for r in listed if r["client_id"] == client_id]
    assert row["active"] and row["last_token_at"] and row["auth_methods"] == ["client_secret", "private_key_jwt"]
    assert rotated["client_secret"] not in json.dumps(listed) and first_secret not in json.dumps(listed)
    plain = ttp("clients", "list").stdout
    assert client_id in plain and "last token" in plain
    missing = CliRunner().invoke(cli, ["clients", "disable", "--client-id", "prov-0000000000000000"], env=env)
    assert missing.exit_code == 2 and "no client" in missing.output
    entries = [e for e in audit(app) if e.source == "cli"]
    assert [e.action for e in entries] == ["clients.create", "clients.disable", "clients.enable",
                                           "clients.rotate_secret", "clients.set_key", "clients.list", "clients.list"]
    assert all(e.resource == f"clients/{client_id}" for e in entries[:-2])
    assert all(e.org_type == "admin" and e.result == "success" for e in entries)
    logged = json.dumps([e.detail for e in entries])
    assert first_secret not in logged and rotated["client_secret"] not in logged and "BEGIN" not in logged
