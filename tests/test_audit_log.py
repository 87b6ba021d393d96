"""The audit log: one entry per request, the NEN 7513 fields, append-only, hashed leaves."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app.audit.log import entry_leaf_hash
from app.audit.merkle import leaf_hash
from app.models import AuditEntry


def entries(app) -> list[AuditEntry]:
    with app.state.runtime.sessions() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def test_one_entry_per_request_with_the_fields(api, app, make_client) -> None:
    credentials = make_client("admin", "TTP")
    before = len(entries(app))
    token = api.post("/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=credentials.basic())
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    api.get("/v1/clients", headers=bearer)
    api.get("/v1/clients")  # no token: denied
    api.post("/v1/clients", headers=bearer, json={"name": "x"})  # invalid input: rejected
    api.get("/v1/nothing")  # unknown: not found
    api.get("/healthz")  # operations are not data access: not audited
    api.get("/v1/openapi.json")  # the public contract: not audited
    new = entries(app)[before:]
    assert [(e.action, e.result, e.status) for e in new] == [
        ("oauth.token", "success", 200),
        ("clients.list", "success", 200),
        ("clients.list", "denied", 401),
        ("clients.create", "rejected", 400),
        ("http.get", "not_found", 404),
    ]
    issued, listed = new[0], new[1]
    assert issued.client_id == credentials.client_id and issued.org_type == "admin" and issued.org_id == "TTP"
    assert listed.role == "admin"
    assert listed.resource == "/v1/clients"
    assert listed.source == "testclient"
    assert listed.detail == {"count": 1}
    assert all(e.request_id and len(e.request_id) == 32 for e in new)
    assert len({e.request_id for e in new}) == len(new)
    # Never a secret or a token in the log.
    dump = json.dumps([{c: str(getattr(e, c)) for c in AuditEntry.__table__.columns.keys()} for e in new])
    assert credentials.client_secret not in dump
    assert token.json()["access_token"] not in dump


def test_sequence_is_dense_and_leaves_recompute(api, app, token_for) -> None:
    admin = token_for("admin", "TTP")
    for _ in range(3):
        api.get("/v1/clients", headers=admin)
    log = entries(app)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    for entry in log:
        assert entry.leaf_hash == entry_leaf_hash(entry)
        assert len(entry.leaf_hash) == 32


def test_a_changed_field_changes_the_leaf(api, app) -> None:
    api.get("/v1/clients")
    entry = entries(app)[-1]
    original = entry_leaf_hash(entry)
    entry.result = "success"
    assert entry_leaf_hash(entry) != original
    entry.result, entry.seq = "denied", entry.seq + 1
    assert entry_leaf_hash(entry) != original  # the position is part of the leaf: reordering shows


def test_leaf_is_rfc9162_leaf_of_canonical_json(api, app) -> None:
    api.get("/v1/clients")
    entry = entries(app)[-1]
    canonical = {
        "seq": entry.seq, "at": entry.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "request_id": entry.request_id,
        "client_id": None, "org_type": None, "org_id": None, "role": None, "action": "clients.list",
        "resource": "/v1/clients", "purpose": None, "result": "denied", "status": 401,
        "source": entry.source, "detail": None,
    }
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    assert entry.leaf_hash == leaf_hash(encoded)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET result = 'success' WHERE seq = 1",
    "DELETE FROM audit_entries WHERE seq = 1",
])
def test_database_refuses_update_and_delete(api, app, statement) -> None:
    api.get("/v1/clients")
    engine = app.state.runtime.engine
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text(statement))
    assert entries(app)[0].result == "success"  # the start entry is unchanged


def test_postgres_refuses_truncate(api, app) -> None:
    engine = app.state.runtime.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE exists on PostgreSQL only")
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_entries"))
