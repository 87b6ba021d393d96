"""Limits on one machine client (OWASP API4), played by the attacker: a client hammering the token
endpoint, a brute-forcer of a client secret (on two app instances over one database, as two
workers), a provider flooding writes, a reader holding every report slot."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from app import db
from app.auth import clients, lockout
from app.auth.limits import RateLimiter
from app.main import create_app
from app.models import AuditEntry, Client, ClientAuthFailure, ConsentRecord
from app.privacy.configuration import PrivacyConfigurationError, parse
from app.records.codelists import load_codelists
from app.settings import EXAMPLE_PRIVACY_CONFIG, Settings
from tests.conftest import Credentials
from tests.test_consents_api import consent_body
from tests.test_http_conventions import assert_problem

TOKEN = "/v1/oauth/token"
GRANT = {"grant_type": "client_credentials"}


def limited_configuration(directory: Path, **limits: int) -> Path:
    """The example configuration with its [limits] values replaced."""
    text = EXAMPLE_PRIVACY_CONFIG.read_text()
    head, _, tail = text.partition("[limits]")
    lines = [line for line in tail.splitlines() if line.split("=")[0].strip() not in limits]
    lines += [f"{key} = {value}" for key, value in limits.items()]
    path = directory / "privacy-limits.toml"
    path.write_text(head + "[limits]" + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def limited(settings: Settings, tmp_path: Path) -> Callable[..., Settings]:
    def make(**limits: int) -> Settings:
        return settings.model_copy(update={"privacy_config": limited_configuration(tmp_path, **limits)})

    return make


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def make_client(app: FastAPI, org_type: str = "municipality", org_id: str = "GM0363") -> Credentials:
    runtime = app.state.runtime
    with db.session_scope(runtime.sessions) as session:
        made = clients.create_client(
            session, name="limits test", org_type=org_type, org_id=org_id, scopes=None,
            ttp_id=runtime.settings.ttp_id, known_municipalities=runtime.codelists.municipalities)
    assert made.client_secret
    return Credentials(made.client_id, made.client_secret)


@pytest.fixture
def serve(limited: Callable[..., Settings]) -> Iterator[Callable[..., tuple[FastAPI, TestClient]]]:
    """Apps (each with its own in-memory limits, as a worker process has) over one database."""
    opened: list[TestClient] = []

    def start(**limits: int) -> tuple[FastAPI, TestClient]:
        app = create_app(limited(**limits))
        client = TestClient(app, base_url="https://testserver")
        client.__enter__()
        opened.append(client)
        return app, client

    yield start
    for client in opened:
        client.__exit__(None, None, None)


def audit_count(app: FastAPI, action: str) -> int:
    with db.session_scope(app.state.runtime.sessions) as session:
        return session.execute(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.action == action)).scalar_one()


# ---- the configuration ------------------------------------------------------------------------------
def test_limits_have_safe_defaults_and_are_validated_at_start(tmp_path: Path) -> None:
    codelists = load_codelists()
    known = {"known_municipalities": codelists.municipalities.keys(), "known_regions": codelists.regions.keys()}
    limits = parse(EXAMPLE_PRIVACY_CONFIG.read_text(), **known).configuration.limits
    assert (limits.failed_authentications, limits.lockout_minutes, limits.secret_rotation_grace_hours) == (10, 15, 24)
    assert limits.token_requests_per_minute == 30 and limits.concurrent_reports == 4
    without = EXAMPLE_PRIVACY_CONFIG.read_text().partition("[limits]")[0]
    assert parse(without, **known).configuration.limits == limits, "the defaults are the example's values"
    for key, value in (("failed_authentications", 0), ("lockout_minutes", 0), ("token_requests_per_minute", 0),
                       ("concurrent_reports", 1000), ("write_requests_per_minute", -1)):
        with pytest.raises(PrivacyConfigurationError) as refused:
            parse(limited_configuration(tmp_path, **{key: value}).read_text(), **known)
        assert any(p.startswith(f"limits.{key}:") for p in refused.value.problems), refused.value.problems
    with pytest.raises(PrivacyConfigurationError) as unknown:
        parse(limited_configuration(tmp_path, lockout_minuets=5).read_text(), **known)
    assert "limits.lockout_minuets: unknown key" in unknown.value.problems[0]


def test_a_token_bucket_refills_evenly_and_says_how_long_to_wait() -> None:
    bucket = RateLimiter(per_minute=6)  # one every 10 s
    assert [bucket.take("c", now=100.0) for _ in range(6)] == [None] * 6
    assert bucket.take("c", now=100.0) == 10
    assert bucket.take("other", now=100.0) is None, "a bucket per client"
    assert bucket.take("c", now=104.0) == 6, "a refused request takes nothing"
    assert bucket.take("c", now=110.0) is None
    small = RateLimiter(per_minute=1, max_keys=2)
    for key in "abc":
        small.take(key, now=0.0)
    assert len(small._buckets) == 2, "made-up client ids cannot grow the process"


# ---- the token endpoint ------------------------------------------------------------------------------
def test_a_client_hammering_the_token_endpoint_gets_429_and_nothing_else_changes(serve) -> None:
    app, api = serve(token_requests_per_minute=3)
    hammer, bystander = make_client(app), make_client(app)
    answers = [api.post(TOKEN, data=GRANT, headers=basic(hammer.client_id, hammer.client_secret)) for _ in range(8)]
    assert [a.status_code for a in answers] == [200] * 3 + [429] * 5
    for refused in answers[3:]:
        body = assert_problem(refused, 429)
        assert body["type"] == "urn:outcome-ttp:problem:rate-limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert "access_token" not in refused.text
    # Nothing else changed: no failure counted, no lock, the other client unaffected, one audit entry each.
    with db.session_scope(app.state.runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(ClientAuthFailure)).scalar_one() == 0
        denied = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "oauth.token", AuditEntry.status == 429)).scalar_one()
    assert denied == 5
    assert api.post(TOKEN, data=GRANT, headers=basic(bystander.client_id, bystander.client_secret)).status_code == 200
    # A wrong secret past the rate is refused by the rate, before any scrypt, and is not a failure.
    assert api.post(TOKEN, data=GRANT, headers=basic(hammer.client_id, "wrong")).status_code == 429
    with db.session_scope(app.state.runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(ClientAuthFailure)).scalar_one() == 0


def test_a_secret_brute_forcer_is_locked_out_across_workers(serve) -> None:
    first_app, first = serve(failed_authentications=4, lockout_minutes=15)
    _second_app, second = serve(failed_authentications=4, lockout_minutes=15)
    target = make_client(first_app)
    right = basic(target.client_id, target.client_secret)
    # Four wrong guesses, alternating between the two workers: the count is in the database.
    for attempt in range(4):
        api = (first, second)[attempt % 2]
        body = assert_problem(api.post(TOKEN, data=GRANT, headers=basic(target.client_id, f"guess-{attempt}")), 401)
        assert body["type"] == "urn:outcome-ttp:problem:invalid-client"
    for api in (first, second):
        refused = api.post(TOKEN, data=GRANT, headers=right)
        body = assert_problem(refused, 401)
        assert "locked" in body["detail"] and "access_token" not in refused.text
        assert 14 * 60 <= int(refused.headers["Retry-After"]) <= 15 * 60
        # client_secret_post is the same client id: refused too.
        post = api.post(TOKEN, data={**GRANT, "client_id": target.client_id, "client_secret": target.client_secret})
        assert post.status_code == 401 and "locked" in post.json()["detail"]
    assert audit_count(first_app, "oauth.client_locked") == 1
    with db.session_scope(first_app.state.runtime.sessions) as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "oauth.client_locked")).scalar_one()
        assert entry.client_id == target.client_id and entry.detail and entry.detail["failures"] == 4
        # The lock runs out (moved by its stored time): the right secret works and the count is cleared.
        session.execute(update(ClientAuthFailure).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    assert second.post(TOKEN, data=GRANT, headers=right).status_code == 200
    with db.session_scope(first_app.state.runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(ClientAuthFailure)).scalar_one() == 0


def test_concurrent_guesses_on_two_workers_are_each_counted_once(serve) -> None:
    first_app, first = serve(failed_authentications=4)
    _second_app, second = serve(failed_authentications=4)
    target = make_client(first_app)

    def guess(attempt: int) -> int:
        api = (first, second)[attempt % 2]
        return api.post(TOKEN, data=GRANT, headers=basic(target.client_id, f"guess-{attempt}")).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, range(8)))
    assert statuses == [401] * 8, "never a 500, however the guesses meet"
    with db.session_scope(first_app.state.runtime.sessions) as session:
        row = session.execute(select(ClientAuthFailure)).scalar_one()
        # Every guess that passed the lock check before the lock was set is counted, none twice.
        assert 4 <= row.failures <= 8 and row.locked_until is not None
        seen = session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "oauth.token", AuditEntry.client_id.is_(None))).scalar_one()
    assert seen == 8, "one audit entry per request"
    assert audit_count(first_app, "oauth.client_locked") == 1
    assert second.post(TOKEN, data=GRANT, headers=basic(target.client_id, target.client_secret)).status_code == 401


def test_an_unknown_client_id_gets_the_same_answers_as_a_real_one(serve) -> None:
    app, api = serve(failed_authentications=3)
    real = make_client(app)

    def answers(client_id: str) -> list[tuple[int, str, str | None]]:
        out = []
        for attempt in range(5):
            response = api.post(TOKEN, data=GRANT, headers=basic(client_id, f"guess-{attempt}"))
            retry = response.headers.get("Retry-After")
            out.append((response.status_code, response.json()["detail"].split(" for ")[0],
                        "set" if retry else None))
        return out

    assert answers(real.client_id) == answers("muni-00000000deadbeef")
    with db.session_scope(app.state.runtime.sessions) as session:
        entries = session.execute(select(AuditEntry).where(AuditEntry.action == "oauth.client_locked")
                                  .order_by(AuditEntry.seq)).scalars().all()
        assert [e.resource for e in entries] == [f"clients/{real.client_id}", "clients/unknown"]
        assert "muni-00000000deadbeef" not in str(entries[1].detail), "an attacker's text is not logged"
        keys = set(session.execute(select(ClientAuthFailure.key)).scalars())
    assert keys == {lockout.key_for(real.client_id), lockout.key_for("muni-00000000deadbeef")}


def test_a_disabled_client_counts_failures_like_any_other(serve) -> None:
    app, api = serve(failed_authentications=3)
    target = make_client(app)
    with db.session_scope(app.state.runtime.sessions) as session:
        session.execute(update(Client).where(Client.client_id == target.client_id).values(active=False))
    for _ in range(3):
        response = api.post(TOKEN, data=GRANT, headers=basic(target.client_id, target.client_secret))
        assert response.status_code == 401
    assert "locked" in api.post(TOKEN, data=GRANT, headers=basic(target.client_id, "x")).json()["detail"]


# ---- writes and reports -------------------------------------------------------------------------------
def test_a_provider_flooding_writes_gets_429_and_the_refused_write_is_not_stored(serve) -> None:
    app, api = serve(write_requests_per_minute=2)
    provider = make_client(app, "provider", "40000001")
    token = api.post(TOKEN, data=GRANT, headers=basic(provider.client_id, provider.client_secret)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    bsns = ["111222333", "123456782", "100000009"]
    answers = [api.post("/v1/consents", json=consent_body(bsn), headers=headers) for bsn in bsns]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert_problem(answers[2], 429)
    assert int(answers[2].headers["Retry-After"]) >= 1
    with db.session_scope(app.state.runtime.sessions) as session:
        assert session.execute(select(func.count()).select_from(ConsentRecord)).scalar_one() == 2
    # Reads are not writes: the provider still reads its consents.
    consent_id = answers[0].json()["consent_id"]
    assert api.get(f"/v1/consents/{consent_id}", headers=headers).status_code == 200


def test_a_client_holding_every_report_slot_gets_429(serve) -> None:
    app, api = serve(concurrent_reports=2)
    reader = make_client(app)
    token = api.post(TOKEN, data=GRANT, headers=basic(reader.client_id, reader.client_secret)).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    cap = app.state.runtime.limits.reports
    free = api.get("/v1/reports/municipalities/GM0363", params={"period": "2025"}, headers=headers)
    assert free.status_code != 429 and free.status_code < 500, free.text
    assert cap.running(reader.client_id) == 0, "a finished request gives its slot back"
    assert cap.try_enter(reader.client_id) and cap.try_enter(reader.client_id)  # two requests still running
    refused = api.get("/v1/reports/municipalities/GM0363", params={"period": "2025"}, headers=headers)
    assert_problem(refused, 429)
    assert refused.headers["Retry-After"] == "1"
    assert cap.running(reader.client_id) == 2, "a refused request holds no slot"
    cap.leave(reader.client_id)
    again = api.get("/v1/reports/municipalities/GM0363", params={"period": "2025"}, headers=headers)
    assert again.status_code != 429 and again.status_code < 500
    # A 404 for another municipality still gives the slot back.
    api.get("/v1/reports/municipalities/GM0344", params={"period": "2025"}, headers=headers)
    assert cap.running(reader.client_id) == 1


# ---- admission: requests wait for their turn, and only a flood is turned away -------------------
def test_requests_past_the_admission_wait_their_turn_and_all_answer(settings, monkeypatch) -> None:
    """With two requests at a time admitted, twenty concurrent ones all get their answer: they
    waited in the middleware, not for a pooled connection that times out into a 503."""
    import asyncio

    import httpx

    monkeypatch.setattr(db, "requests_at_once", lambda engine: 2)
    app = create_app(settings)
    seen = {"most": 0, "now": 0}

    async def slow() -> dict[str, int]:  # an API path (admitted and audited) that takes a while
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        await asyncio.sleep(0.02)
        seen["now"] -= 1
        return {"ok": 1}

    app.add_api_route("/v1/slow", slow)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            answers = await asyncio.gather(*[client.get("/v1/slow") for _ in range(20)])
            probe = await client.get("/healthz")
        return [a.status_code for a in answers] + [probe.status_code]

    try:
        statuses = asyncio.run(run())
    finally:
        app.state.runtime.close()
    assert statuses == [200] * 21
    assert seen["most"] == 2  # never more at once than admitted, and the queue did move


def test_a_flood_past_the_waiting_room_is_a_503_with_retry_after_and_probes_still_answer(
    settings, monkeypatch
) -> None:
    from app import middleware

    monkeypatch.setattr(middleware, "MAX_WAITING", 0)  # the waiting room is full
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        busy = client.get("/v1/privacy/configuration")
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "5"
        assert busy.headers["content-type"].startswith("application/problem+json")
        assert "busy" in busy.json()["detail"]
        assert client.get("/healthz").status_code == 200
