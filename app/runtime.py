"""What a running service holds: settings, database, keys, privacy configuration, reference data.

Built once by :func:`Runtime.start`, which refuses to start on an unsafe set-up: an unusable
privacy configuration, or development keys in production.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import db
from app.audit import log as audit_log
from app.audit.events import start_detail
from app.audit.writer import AuditWriter
from app.auth.limits import ClientLimits
from app.crypto.keyring import Keyring, KeyringError
from app.observability import Metrics
from app.privacy import configuration as privacy
from app.pseudonyms import TtpPseudonymiser
from app.records import ingestion
from app.records.codelists import CodeLists, load_codelists, load_rom_instruments
from app.records.vault import RecordVault
from app.reports.registry import load_registry
from app.reports.releases import Publisher
from app.settings import Settings

log = logging.getLogger("ttp.runtime")


class StartupRefused(Exception):
    """The service must not start; the message says why and what to fix."""


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    privacy: privacy.LoadedConfiguration
    keyring: Keyring
    codelists: CodeLists
    metrics: Metrics
    #: Public keys that verify access tokens, by key id (all token-signing keys on disk).
    token_keys: dict[str, ec.EllipticCurvePublicKey]
    pseudonymiser: TtpPseudonymiser
    #: What record ingestion needs: the record vault (KEKs), the pseudonymiser, the configuration.
    records: ingestion.Context
    #: Releases: what making one needs (registry, configuration, keys); reports read stored releases.
    publisher: Publisher

    @cached_property
    def audit_writer(self) -> AuditWriter:
        """Writes requests' audit entries in groups (one transaction for all that are waiting)."""
        return AuditWriter(self.sessions,
                           on_written=lambda event: self.metrics.audit_entries.labels(event.result).inc())

    @cached_property
    def limits(self) -> ClientLimits:
        """This process's limits on each machine client (rates, concurrent reports; see app.auth.limits)."""
        return ClientLimits(self.privacy.configuration.limits)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions for requests that only read (reports, releases, the audit log): on SQLite they
        never queue behind the writer's lock; on PostgreSQL they cannot write."""
        return db.make_sessionmaker(db.read_only(self.engine))

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        codelists = load_codelists()
        try:
            loaded = privacy.load(
                settings.resolved_privacy_config,
                known_municipalities=codelists.municipalities.keys(),
                known_regions=codelists.regions.keys(),
            )
        except privacy.PrivacyConfigurationError as exc:
            raise StartupRefused(str(exc)) from None
        try:
            if settings.is_production:
                keyring = Keyring.open(settings.resolved_key_dir)
                if keyring.is_development:
                    raise StartupRefused(
                        f"the key directory {settings.resolved_key_dir} holds development keys; "
                        "production needs keys made with `ttp keys init`"
                    )
                if settings.privacy_config is None:
                    raise StartupRefused("TTP_PRIVACY_CONFIG must be set explicitly in production")
            else:
                keyring = Keyring.ensure_development(settings.resolved_key_dir)
        except KeyringError as exc:
            raise StartupRefused(str(exc)) from None
        engine = db.make_engine(settings.resolved_database_url)
        pseudonymiser = TtpPseudonymiser(keyring.pseudonym_key())
        records = ingestion.Context(
            vault=RecordVault.from_keyring(keyring, dict(load_rom_instruments())),
            pseudonymiser=pseudonymiser,
            configuration=loaded.configuration,
        )
        sessions = db.make_sessionmaker(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            records=records,
            publisher=Publisher(registry=load_registry(), configuration=loaded.configuration,
                                config_sha256=loaded.sha256, codelists=codelists, keyring=keyring,
                                ttp_id=settings.ttp_id),
            privacy=loaded,
            keyring=keyring,
            codelists=codelists,
            metrics=Metrics(),
            token_keys=keyring.token_verification_keys(),
            pseudonymiser=pseudonymiser,
        )

    def record_start(self) -> None:
        """Audit the start with the SHA-256 of the privacy configuration in force."""
        with db.session_scope(self.sessions) as session:
            audit_log.append(
                session,
                audit_log.AuditEvent(
                    action="service.start",
                    result="success",
                    org_type="admin",
                    org_id=self.settings.ttp_id,
                    resource="privacy-configuration",
                    detail={
                        "privacy_config_sha256": self.privacy.sha256,
                        "privacy_config_version": self.privacy.configuration.version,
                        "environment": self.settings.env.value,
                        "token_signing_key_id": self.keyring.active["token-signing"],
                        **start_detail(session, self.privacy.sha256),
                    },
                ),
            )
        log.info("started", extra={"config_sha256": self.privacy.sha256})

    def close(self) -> None:
        if "audit_writer" in self.__dict__:
            self.audit_writer.close()
        self.engine.dispose()
