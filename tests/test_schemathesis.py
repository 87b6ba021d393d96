"""Schemathesis over the whole OpenAPI document: no 5xx, every response as documented.

Runs against the real ASGI app on SQLite and PostgreSQL, with a token for the organisation each
path belongs to, so the generated requests reach the endpoints' logic and not only the 401 path.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

CHECKS = [
    checks.not_a_server_error,
    openapi_checks.response_schema_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.status_code_conformance,
]


@pytest.fixture
def api_schema(app):
    return schemathesis.openapi.from_asgi("/v1/openapi.json", app)


@pytest.fixture
def headers_for(token_for):
    """Authorization per path prefix: the kind of organisation that may call it."""
    tokens = {
        "admin": token_for("admin", "TTP"),
        "privacy_officer": token_for("privacy_officer", "TTP"),
        "provider": token_for("provider", "12345678"),
        "municipality": token_for("municipality", "GM0363"),
    }
    routes = [
        ("/v1/privacy", "privacy_officer"),
        ("/v1/audit", "privacy_officer"),
        ("/v1/consents", "provider"),
        ("/v1/records", "provider"),
        ("/v1/notes", "provider"),
        ("/v1/process-context", "provider"),
        ("/v1/reports/municipalities", "municipality"),
        ("/v1/reports/providers", "provider"),
    ]

    def pick(path: str) -> dict[str, str]:
        for prefix, who in routes:
            if path.startswith(prefix):
                return tokens[who]
        return tokens["admin"]

    return pick


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case, headers_for) -> None:
    case.call_and_validate(headers={**(case.headers or {}), **headers_for(case.path)}, checks=CHECKS)
