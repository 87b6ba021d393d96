"""Identity: the token endpoint, client authentication methods, and the JWT attack set."""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from app.auth.clients import hash_secret, verify_secret
from tests.test_http_conventions import assert_problem


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_jwt(header: dict, claims: dict, sign) -> str:
    """Build a JWT by hand (independent of the code under test)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def es256_signer(key: ec.EllipticCurvePrivateKey):
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def get_token(api, credentials, **form) -> dict:
    response = api.post("/v1/oauth/token", data={"grant_type": "client_credentials", **form},
                        headers=credentials.basic())
    assert response.status_code == 200, response.text
    return response.json()


# ---- secrets -----------------------------------------------------------------------------------
def test_secret_hash_is_scrypt_and_verifies_only_the_secret(production_kdf) -> None:  # type: ignore[no-untyped-def]
    stored = hash_secret("correct horse")
    assert stored.startswith("scrypt$32768$8$1$") and "correct horse" not in stored
    assert verify_secret("correct horse", stored)
    assert not verify_secret("correct hors", stored)
    assert not verify_secret("correct horse", "garbage")


# ---- the token endpoint --------------------------------------------------------------------------
def test_client_secret_basic_gives_a_bound_token(api, make_client, app) -> None:
    credentials = make_client("municipality", "GM0363")
    answer = get_token(api, credentials)
    assert answer["token_type"] == "Bearer"
    assert answer["scope"] == "reports:read"
    assert 60 <= answer["expires_in"] <= 3600
    header = json.loads(b64url_decode(answer["access_token"].split(".")[0]))
    claims = json.loads(b64url_decode(answer["access_token"].split(".")[1]))
    assert header["alg"] == "ES256" and header["kid"] == app.state.runtime.keyring.active["token-signing"]
    assert claims["sub"] == credentials.client_id
    assert claims["org_type"] == "municipality" and claims["org_id"] == "GM0363"
    assert {"iss", "aud", "exp", "iat", "jti"} <= claims.keys()


def test_client_secret_post(api, make_client) -> None:
    credentials = make_client("provider", "12345678")
    response = api.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": credentials.client_id,
        "client_secret": credentials.client_secret, "scope": "records:write",
    })
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "records:write"


def test_wrong_secret_unknown_client_and_wrong_grant(api, make_client) -> None:
    credentials = make_client("provider", "12345678")
    wrong = api.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                              "client_id": credentials.client_id, "client_secret": "nope"})
    assert_problem(wrong, 401)
    unknown = api.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                "client_id": "prov-unknown", "client_secret": "nope"})
    assert_problem(unknown, 401)
    assert wrong.json()["detail"] == unknown.json()["detail"]  # no hint which client ids exist
    grant = api.post("/v1/oauth/token", data={"grant_type": "password"}, headers=credentials.basic())
    assert assert_problem(grant, 400)["type"].endswith("unsupported-grant-type")


def test_scope_beyond_the_grant_is_refused(api, make_client) -> None:
    credentials = make_client("municipality", "GM0363")
    response = api.post("/v1/oauth/token", data={"grant_type": "client_credentials", "scope": "audit:read"},
                        headers=credentials.basic())
    assert assert_problem(response, 400)["errors"][0]["field"] == "scope"


def test_a_json_body_is_told_to_send_a_form(api, make_client) -> None:
    credentials = make_client("provider", "12345678")
    form = {"grant_type": "client_credentials", "client_id": credentials.client_id,
            "client_secret": credentials.client_secret}
    response = api.post("/v1/oauth/token", json=form)
    body = assert_problem(response, 400)
    assert "send application/x-www-form-urlencoded" in body["detail"]
    assert "application/json" in body["detail"]
    assert body["errors"] == [{"field": "body", "reason": "must be application/x-www-form-urlencoded"}]
    assert api.post("/v1/oauth/token", data=form).status_code == 200  # the same fields as a form are fine


def _register_key_client(api, token_for, key_pem: bytes) -> str:
    admin = token_for("admin", "TTP")
    response = api.post("/v1/clients", headers=admin, json={
        "name": "Provider system with a key", "org_type": "provider", "org_id": "87654321",
        "public_key_pem": key_pem.decode(),
    })
    assert response.status_code == 201, response.text
    assert response.json()["client_secret"] is None
    return response.json()["client_id"]


def test_private_key_jwt_and_replay(api, token_for) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    client_id = _register_key_client(api, token_for, public)
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "https://testserver/v1/oauth/token",
              "iat": now, "exp": now + 60, "jti": secrets.token_hex(8)}
    assertion = raw_jwt({"alg": "ES256", "typ": "JWT"}, claims, es256_signer(key))
    form = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    first = api.post("/v1/oauth/token", data=form)
    assert first.status_code == 200, first.text
    replay = api.post("/v1/oauth/token", data=form)
    assert "replay" in assert_problem(replay, 401)["detail"]
    # Signed by another key: refused.
    other = ec.generate_private_key(ec.SECP256R1())
    forged = raw_jwt({"alg": "ES256"}, {**claims, "jti": "x2"}, es256_signer(other))
    assert_problem(api.post("/v1/oauth/token", data={**form, "client_assertion": forged}), 401)
    # Wrong audience: refused.
    wrong_aud = raw_jwt({"alg": "ES256"}, {**claims, "jti": "x3", "aud": "https://elsewhere/token"},
                        es256_signer(key))
    assert_problem(api.post("/v1/oauth/token", data={**form, "client_assertion": wrong_aud}), 401)


def test_private_key_jwt_with_rsa(api, token_for) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    client_id = _register_key_client(api, token_for, public)
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "urn:outcome-ttp", "iat": now, "exp": now + 60,
              "jti": secrets.token_hex(8)}
    assertion = raw_jwt({"alg": "RS256"}, claims,
                        lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    response = api.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code == 200, response.text


# ---- the JWT attack set --------------------------------------------------------------------------
@pytest.fixture
def valid(api, make_client, app):
    """A valid admin token, its decoded parts, and the TTP's token-signing key."""
    credentials = make_client("admin", "TTP")
    token = get_token(api, credentials)["access_token"]
    header_b64, claims_b64, _ = token.split(".")
    _, signing_key = app.state.runtime.keyring.token_signing_key()
    return {
        "token": token,
        "header": json.loads(b64url_decode(header_b64)),
        "claims": json.loads(b64url_decode(claims_b64)),
        "key": signing_key,
    }


def call(api, token: str):
    return api.get("/v1/clients", headers={"Authorization": f"Bearer {token}"})


def test_valid_token_is_accepted(api, valid) -> None:
    assert call(api, valid["token"]).status_code == 200
    resigned = raw_jwt(valid["header"], valid["claims"], es256_signer(valid["key"]))
    assert call(api, resigned).status_code == 200  # the hand-made signer is right


def _attack(valid, name: str) -> str:
    header, claims, key = dict(valid["header"]), dict(valid["claims"]), valid["key"]
    now = int(time.time())
    sign = es256_signer(key)
    if name == "alg_none":
        return raw_jwt({**header, "alg": "none"}, claims, lambda _data: b"")
    if name == "alg_None_capitalised":
        return raw_jwt({**header, "alg": "None"}, claims, lambda _data: b"")
    if name == "hs256_with_public_key":
        import hashlib
        import hmac

        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return raw_jwt({**header, "alg": "HS256"}, claims,
                       lambda data: hmac.new(public_pem, data, hashlib.sha256).digest())
    if name == "expired":
        return raw_jwt(header, {**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}, sign)
    if name == "not_yet_valid":
        return raw_jwt(header, {**claims, "iat": now + 3600, "nbf": now + 3600, "exp": now + 7200}, sign)
    if name == "wrong_audience":
        return raw_jwt(header, {**claims, "aud": "urn:someone-else"}, sign)
    if name == "wrong_issuer":
        return raw_jwt(header, {**claims, "iss": "urn:evil-ttp"}, sign)
    if name == "unknown_kid":
        return raw_jwt({**header, "kid": "ts-unknown"}, claims, sign)
    if name == "no_kid":
        return raw_jwt({k: v for k, v in header.items() if k != "kid"}, claims, sign)
    if name == "other_key":
        return raw_jwt(header, claims, es256_signer(ec.generate_private_key(ec.SECP256R1())))
    if name == "missing_org":
        return raw_jwt(header, {k: v for k, v in claims.items() if k != "org_id"}, sign)
    if name == "missing_exp":
        return raw_jwt(header, {k: v for k, v in claims.items() if k != "exp"}, sign)
    if name == "tampered_payload":
        head, _, signature = valid["token"].split(".")
        forged = b64url(json.dumps({**claims, "org_type": "admin", "scope": "admin audit:read"}).encode())
        return f"{head}.{forged}.{signature}"
    if name == "garbage":
        return "not.a.jwt"
    raise AssertionError(name)


ATTACKS = [
    "alg_none", "alg_None_capitalised", "hs256_with_public_key", "expired", "not_yet_valid",
    "wrong_audience", "wrong_issuer", "unknown_kid", "no_kid", "other_key", "missing_org", "missing_exp",
    "tampered_payload", "garbage",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_jwt_attack_gets_401_problem(api, valid, attack) -> None:
    body = assert_problem(call(api, _attack(valid, attack)), 401)
    assert body["type"] == "urn:outcome-ttp:problem:unauthenticated"
    assert valid["token"] not in json.dumps(body)


def test_token_in_query_string_gets_401(api, valid) -> None:
    response = api.get("/v1/clients", params={"access_token": valid["token"]})
    body = assert_problem(response, 401)
    assert "Authorization header" in body["detail"]
    # Even together with a valid header: a token in a URL ends up in logs and must not be used.
    both = api.get("/v1/clients", params={"access_token": valid["token"]},
                   headers={"Authorization": f"Bearer {valid['token']}"})
    assert_problem(both, 401)


def test_no_token_and_wrong_scheme(api, valid) -> None:
    assert_problem(api.get("/v1/clients"), 401)
    assert_problem(api.get("/v1/clients", headers={"Authorization": f"Token {valid['token']}"}), 401)


# ---- organisation and scope binding -------------------------------------------------------------
def test_scope_and_org_type_are_enforced(api, token_for) -> None:
    municipality = token_for("municipality", "GM0363")
    assert_problem(api.get("/v1/clients", headers=municipality), 403)
    officer = token_for("privacy_officer", "TTP")
    assert_problem(api.get("/v1/clients", headers=officer), 403)
    assert api.get("/v1/privacy/configuration", headers=officer).status_code == 200
    provider = token_for("provider", "12345678")
    assert_problem(api.get("/v1/privacy/configuration", headers=provider), 403)


def test_clients_get_only_scopes_their_org_type_allows(api, token_for) -> None:
    admin = token_for("admin", "TTP")
    response = api.post("/v1/clients", headers=admin, json={
        "name": "greedy", "org_type": "provider", "org_id": "12345678", "scopes": ["audit:read"]})
    assert assert_problem(response, 400)["errors"][0]["field"] == "scope"
    response = api.post("/v1/clients", headers=admin, json={
        "name": "not a municipality", "org_type": "municipality", "org_id": "GM9999"})
    assert "unknown municipality" in assert_problem(response, 400)["errors"][0]["reason"]
