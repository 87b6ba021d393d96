"""The privacy configuration: the safe example loads; unsafe or incomplete files stop the service."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.crypto.keyring import Keyring
from app.main import create_app
from app.models import AuditEntry
from app.privacy import configuration as privacy
from app.records.codelists import load_codelists
from app.runtime import Runtime, StartupRefused
from app.settings import EXAMPLE_PRIVACY_CONFIG, Settings

EXAMPLE = EXAMPLE_PRIVACY_CONFIG.read_text()
CODES = load_codelists()


def parse(text: str) -> privacy.LoadedConfiguration:
    return privacy.parse(text, source="test.toml", known_municipalities=CODES.municipalities.keys(),
                         known_regions=CODES.regions.keys())


def problems_of(text: str) -> list[str]:
    with pytest.raises(privacy.PrivacyConfigurationError) as caught:
        parse(text)
    assert "test.toml" in str(caught.value)
    return caught.value.problems


def edit(pattern: str, replacement: str, text: str = EXAMPLE) -> str:
    changed, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert count == 1, pattern
    return changed


def test_the_shipped_example_is_complete_and_safe() -> None:
    loaded = parse(EXAMPLE)
    config = loaded.configuration
    assert config.disclosure.minimum_cell_size == 10
    assert config.threshold_for("GM0088") == 20
    assert config.threshold_for("GM0363") == 10
    assert config.retention.records_months == 24
    assert "Friesland" in config.regions.reporting_agreed
    assert loaded.sha256 == hashlib.sha256(EXAMPLE.encode()).hexdigest()


def test_threshold_nine_is_refused_naming_key_and_rule() -> None:
    problems = problems_of(edit(r"^minimum_cell_size = 10", "minimum_cell_size = 9"))
    assert problems == [
        "disclosure.minimum_cell_size: must be at least 10 (the floor no configuration can lower); got 9"
    ]


def test_missing_retention_is_refused() -> None:
    text = edit(r"^\[retention\]\nrecords_months = 24.*\naudit_years = 5.*\n", "")
    assert problems_of(text) == ["retention: missing (required)"]


def test_missing_retention_key_is_refused() -> None:
    text = edit(r"^records_months = 24.*\n", "")
    assert problems_of(text) == ["retention.records_months: missing (required)"]


def test_unknown_municipality_code_is_refused() -> None:
    text = edit(r"^GM0088 = 20.*$", "GM9999 = 20")
    assert problems_of(text) == [
        "disclosure.municipality_thresholds.GM9999: unknown municipality code "
        "(not in the CBS municipal division the service uses)"
    ]


def test_a_municipality_may_not_lower_its_threshold() -> None:
    problems = problems_of(edit(r"^GM0088 = 20.*$", "GM0088 = 10\nGM0363 = 8"))
    assert len(problems) == 1
    assert "GM0363 = 8" in problems[0] and "only raise" in problems[0]


def test_malformed_toml_says_where() -> None:
    problems = problems_of(EXAMPLE + "\n[disclosure\nbroken = \n")
    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML:") and "line" in problems[0]


def test_unknown_key_and_region_are_refused() -> None:
    text = edit(r"^rounding_base = 5", "rounding_base = 5\nminimum_cel_size = 12")
    text = edit(r'^reporting_agreed = \["Friesland"\]', 'reporting_agreed = ["Atlantis"]', text)
    problems = problems_of(text)
    unknown = "disclosure.minimum_cel_size: unknown key (not a privacy configuration setting; check its spelling)"
    assert unknown in problems


def test_unknown_region_is_refused() -> None:
    text = edit(r'^reporting_agreed = \["Friesland"\]', 'reporting_agreed = ["Friesland", "Atlantis"]')
    assert problems_of(text) == ["regions.reporting_agreed[1]: unknown jeugdzorgregio 'Atlantis'"]


def test_consent_purpose_needs_explicit_consent_basis() -> None:
    text = edit(r'^legal_bases = \["GDPR art. 6\(1\)\(a\)", "GDPR art. 9\(2\)\(a\)"\]',
                'legal_bases = ["GDPR art. 6(1)(e)"]')
    problems = problems_of(text)
    assert any("9(2)(a)" in p for p in problems)


def test_several_problems_are_reported_at_once() -> None:
    text = edit(r"^minimum_cell_size = 10", "minimum_cell_size = 5")
    text = edit(r"^audit_years = 5", "audit_years = 0", text)
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith("disclosure.minimum_cell_size")
    assert problems[1].startswith("retention.audit_years")


# ---- the service refuses to start -------------------------------------------------------------
def _settings(tmp_path: Path, **overrides) -> Settings:
    values = {"data_dir": tmp_path, "database_url": f"sqlite:///{tmp_path}/db.sqlite3", **overrides}
    return Settings(**values)


def test_service_refuses_an_unsafe_configuration(tmp_path: Path) -> None:
    bad = tmp_path / "privacy.toml"
    bad.write_text(edit(r"^minimum_cell_size = 10", "minimum_cell_size = 9"))
    with pytest.raises(StartupRefused, match=r"disclosure.minimum_cell_size: must be at least 10"):
        create_app(_settings(tmp_path, privacy_config=bad))


def test_production_refuses_without_explicit_configuration(tmp_path: Path) -> None:
    Keyring.create(tmp_path / "keys", origin="production")
    with pytest.raises(StartupRefused, match="TTP_PRIVACY_CONFIG"):
        Runtime.start(_settings(tmp_path, env="production"))


def test_production_refuses_development_keys(tmp_path: Path) -> None:
    Keyring.create(tmp_path / "keys", origin="development")
    with pytest.raises(StartupRefused, match="development keys"):
        Runtime.start(_settings(tmp_path, env="production", privacy_config=EXAMPLE_PRIVACY_CONFIG))


def test_production_refuses_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(StartupRefused, match="ttp keys init"):
        Runtime.start(_settings(tmp_path, env="production", privacy_config=EXAMPLE_PRIVACY_CONFIG))


def test_key_files_are_private(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "keys", origin="development")
    for path in (tmp_path / "keys").rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path
    assert ring.active.keys() == {"token-signing", "kek", "pseudonym", "audit-signing"}


def test_every_start_records_the_configuration_hash(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app):
        pass
    with TestClient(create_app(settings)):
        pass
    with app.state.runtime.sessions() as session:
        starts = session.execute(select(AuditEntry).where(AuditEntry.action == "service.start")).scalars().all()
    expected = hashlib.sha256(EXAMPLE.encode()).hexdigest()
    assert [s.detail["privacy_config_sha256"] for s in starts] == [expected, expected]


def test_privacy_officer_reads_the_active_configuration(api, token_for) -> None:
    officer = token_for("privacy_officer", "TTP")
    body = api.get("/v1/privacy/configuration", headers=officer).json()
    assert body["sha256"] == hashlib.sha256(EXAMPLE.encode()).hexdigest()
    assert body["configuration"]["disclosure"]["minimum_cell_size"] == 10
    assert body["minimum_cell_size_floor"] == 10
