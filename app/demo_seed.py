"""``ttp demo seed``: load the synthetic demo population through the real ingestion path.

Consents are registered and batches ingested with the same functions the API calls (validation,
stage-2 pseudonymisation, consent checks, encryption, counting), per provider and batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from app import db
from app.audit import log as audit_log
from app.consents import registry
from app.demo import DemoPopulation, batches, generate
from app.records import ingestion
from app.runtime import Runtime
from pseudonymisation import PseudonymKey, generate_key


@dataclass(frozen=True)
class SeedResult:
    providers: int
    consents: int
    records: int


def new_consent(body: dict[str, Any]) -> registry.NewConsent:
    return registry.NewConsent(
        consent_ref=body["consent_ref"], pseudonym=body["pseudonym"], given_by=body["given_by"],
        age_at_consent=body["age_at_consent"], purpose=body["purpose"], municipalities=list(body["municipalities"]),
        given_at=date.fromisoformat(body["given_at"]),
        valid_until=date.fromisoformat(body["valid_until"]) if body.get("valid_until") else None,
    )


def seed(
    runtime: Runtime, *, records: int = 5000, seed: int = 2025, provider_key: PseudonymKey | None = None
) -> SeedResult:
    today = datetime.now(UTC).date()
    population: DemoPopulation = generate(records, seed=seed, provider_key=provider_key or generate_key("v1"),
                                          today=today)
    consent_ids: dict[tuple[str, str], str] = {}
    with db.session_scope(runtime.sessions) as session:
        for demo in population.consents:
            row = registry.register(
                session, provider_id=demo.provider, new=new_consent(demo.body), pseudonymiser=runtime.pseudonymiser,
                configuration=runtime.privacy.configuration, known_municipalities=runtime.codelists.municipalities,
                keys=runtime.records.vault, today=today,
            )
            consent_ids[(demo.provider, demo.body["consent_ref"])] = row.consent_id
    stored = 0
    for group in batches(population.records, 1000):
        items = [r.with_consent_id(consent_ids[(r.provider, r.consent_ref)]) for r in group]
        with db.session_scope(runtime.sessions) as session:
            result = ingestion.ingest_batch(session, runtime.records, provider_id=group[0].provider, items=items)
            stored += result.accepted
    with db.session_scope(runtime.sessions) as session:
        audit_log.append(session, audit_log.AuditEvent(
            action="demo.seed", result="success", org_type="admin", org_id=runtime.settings.ttp_id, source="cli",
            detail={"providers": len(population.providers), "consents": len(consent_ids), "records": stored},
        ))
    return SeedResult(len(population.providers), len(consent_ids), stored)
