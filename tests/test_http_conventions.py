"""HTTP conventions of API.md: /v1, problem+json, trailing slashes, headers, limits."""

from __future__ import annotations

import json

import pytest

from app.openapi_document import document
from app.settings import REPO_ROOT

SECURITY_HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def assert_conventional_headers(response) -> None:
    assert response.headers["api-version"], response.url
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (response.url, name)
    assert response.headers["strict-transport-security"].startswith("max-age=")


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:outcome-ttp:problem:")
    assert body["title"] and body["detail"]
    return body


def test_health_and_readiness(api) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "keys": "ok"}


def test_trailing_slash_is_404_not_redirect(api) -> None:
    assert api.get("/v1/openapi.json").status_code == 200
    response = api.get("/v1/openapi.json/", follow_redirects=False)
    assert_problem(response, 404)
    assert "location" not in response.headers
    assert_problem(api.post("/v1/oauth/token/", data={"grant_type": "client_credentials"}), 404)


def test_unknown_path_and_method_are_problems(api) -> None:
    assert_problem(api.get("/v1/nothing-here"), 404)
    assert_problem(api.delete("/v1/oauth/token"), 405)


def test_every_response_carries_version_and_security_headers(api, token_for) -> None:
    admin = token_for("admin", "TTP")
    responses = [
        api.get("/healthz"),
        api.get("/readyz"),
        api.get("/metrics"),
        api.get("/v1/openapi.json"),
        api.get("/v1/openapi.json/"),
        api.get("/v1/clients"),
        api.get("/v1/clients", headers=admin),
        api.post("/v1/clients", headers=admin, content=b"{not json", ),
        api.post("/v1/oauth/token", data={"grant_type": "password"}),
    ]
    for response in responses:
        assert_conventional_headers(response)


def test_malformed_json_body_is_400_problem(api, token_for) -> None:
    admin = token_for("admin", "TTP")
    response = api.post("/v1/clients", headers={**admin, "Content-Type": "application/json"}, content=b"{not json")
    body = assert_problem(response, 400)
    assert body["errors"][0]["field"] == "body"
    assert "JSON" in body["errors"][0]["reason"]


def test_invalid_fields_are_all_listed_never_422(api, token_for) -> None:
    admin = token_for("admin", "TTP")
    response = api.post(
        "/v1/clients", headers=admin,
        json={"name": "", "org_type": "hacker", "org_id": "x", "password": "nope"},
    )
    body = assert_problem(response, 400)
    fields = {e["field"] for e in body["errors"]}
    assert {"name", "org_type", "password"} <= fields
    reasons = {e["field"]: e["reason"] for e in body["errors"]}
    assert "unknown field" in reasons["password"]


def test_invalid_input_changes_nothing(api, token_for) -> None:
    admin = token_for("admin", "TTP")
    before = api.get("/v1/clients", headers=admin).json()
    bad = api.post("/v1/clients", headers=admin, json={"name": "x", "org_type": "provider", "org_id": "123"})
    body = assert_problem(bad, 400)
    assert body["errors"] == [{"field": "org_id", "reason": "a provider is identified by its AGB code: 8 digits"}]
    assert api.get("/v1/clients", headers=admin).json() == before


def test_body_larger_than_the_limit_is_413(api, token_for, settings) -> None:
    admin = token_for("admin", "TTP")
    big = b"{" + b" " * (settings.max_body_bytes + 10) + b"}"
    assert_problem(api.post("/v1/clients", headers={**admin, "Content-Type": "application/json"}, content=big), 413)


def test_streamed_body_without_length_is_limited_too(api, token_for, settings) -> None:
    admin = token_for("admin", "TTP")
    chunk = b" " * 65536
    count = settings.max_body_bytes // len(chunk) + 2

    def body():
        for _ in range(count):
            yield chunk

    response = api.post("/v1/clients", headers={**admin, "Content-Type": "application/json"}, content=body())
    assert_problem(response, 413)


def test_metrics_are_prometheus_text(api) -> None:
    api.get("/healthz")
    text = api.get("/metrics").text
    assert 'ttp_http_requests_total{method="GET",route="/healthz",status="200"}' in text


def test_openapi_document_is_committed_and_current(app) -> None:
    committed = json.loads((REPO_ROOT / "openapi" / "openapi.json").read_text())
    assert committed == document(app), "openapi/openapi.json drifted from the code: run `make openapi`"


@pytest.mark.parametrize("path", ["/v1/clients", "/v1/privacy/configuration"])
def test_request_id_is_echoed(api, path) -> None:
    response = api.get(path, headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    evil = "<script>" * 20
    assert api.get(path, headers={"X-Request-ID": evil}).headers["x-request-id"] != evil
