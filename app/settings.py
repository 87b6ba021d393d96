"""Deployment settings (environment variables ``TTP_*``).

Deployment facts live here (database, directories, token lifetimes); every DPIA-relevant choice
lives in the privacy configuration file (:mod:`app.privacy.configuration`).
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PRIVACY_CONFIG = REPO_ROOT / "deploy" / "privacy.example.toml"
API_VERSION = "1.0.0"


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(BaseSettings):
    """Settings read from ``TTP_*`` environment variables (see API.md, "Settings")."""

    model_config = SettingsConfigDict(env_prefix="TTP_", extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Path("./var")
    database_url: str | None = None
    privacy_config: Path | None = None
    key_dir: Path | None = None

    # Identity of this TTP in tokens and in its own organisation binding.
    ttp_id: str = "TTP"
    issuer: str = "urn:outcome-ttp"
    audience: str = "urn:outcome-ttp:api"
    token_ttl_seconds: int = Field(default=900, ge=60, le=3600)

    # Whether this process runs the periodic jobs (false: an API-only process beside `ttp worker`).
    run_jobs: bool = True
    # The periodic jobs' periods in seconds: each job runs once per period across every process.
    release_interval_seconds: int = Field(default=600, ge=1, le=86400)
    housekeeping_interval_seconds: int = Field(default=3600, ge=1, le=86400)
    checkpoint_interval_seconds: int = Field(default=300, ge=1, le=86400)

    # How many synthetic records the first development run (`ttp serve` on an empty database) seeds;
    # 0 seeds none. Ignored in production, where no demo data is ever loaded.
    demo_records: int = Field(default=5000, ge=0, le=1_000_000)

    # HTTP limits.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.resolved_data_dir / 'ttp.sqlite3'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def resolved_key_dir(self) -> Path:
        return (self.key_dir or self.resolved_data_dir / "keys").resolve()

    @property
    def resolved_privacy_config(self) -> Path | None:
        """The privacy configuration path; development falls back to the shipped safe example."""
        if self.privacy_config is not None:
            return self.privacy_config
        if self.env is Environment.development:
            return EXAMPLE_PRIVACY_CONFIG
        return None

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production
