"""HTTP: the consent registry for providers (register, read status, withdraw)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

import consent
from app import dependencies, plain_text
from app.auth.principal import Principal, audit_context, audited
from app.consents import batches, registry, withdrawal
from app.consents.auth import ConsentsWriter
from app.dependencies import RuntimeDep
from app.models import ConsentRecord
from app.problems import Problem, problem_responses
from app.records.schemas import EARLIEST_DATE

router = APIRouter(prefix="/v1/consents", tags=["consents"])

LATEST_VALID_UNTIL = date(2099, 12, 31)
ConsentId = Path(pattern=r"^cns-[A-Za-z0-9_-]{10,40}$", max_length=44, description="The TTP's consent id")


class ConsentRequest(BaseModel):
    """A consent as the provider registers it. The pseudonym is the stage-1 pseudonym made by
    `ttp pseudonymise`; the TTP keeps only its stage-2 pseudonym."""

    model_config = ConfigDict(extra="forbid")

    consent_ref: str = Field(min_length=1, max_length=100, pattern=plain_text.PATTERN,
                             description="The provider's own reference")
    pseudonym: str = Field(min_length=1, max_length=128, pattern=plain_text.PATTERN,
                           description="Stage-1 pseudonym (p1.v1.…), never a BSN")
    given_by: str = Field(max_length=40,
                          description="youth | parents | youth_and_parents | guardian (must fit the age)")
    age_at_consent: int = Field(ge=consent.MIN_AGE, le=consent.MAX_AGE,
                                description="Age in years when the consent was given")
    purpose: str = Field(default="outcome-monitoring", max_length=100, pattern=plain_text.PATTERN)
    municipalities: list[str] = Field(min_length=1, max_length=50, description="GMxxxx codes the consent covers")
    given_at: date = Field(ge=EARLIEST_DATE, description="Not before 2015-01-01 (the Jeugdwet), not in the future")
    valid_until: date | None = Field(default=None, ge=EARLIEST_DATE, le=LATEST_VALID_UNTIL,
                                     description="Absent: valid until withdrawn. Not after 2099-12-31")


Status = Literal["active", "withdrawn", "expired", "not_yet_valid"]


class ConsentStatusResponse(BaseModel):
    consent_id: str
    status: Status


def _own_consent(request: Request, session: Session, principal: Principal, consent_id: str) -> ConsentRecord:
    """The caller's own consent, or 404 (another provider's consent is 'not found' too)."""
    audit_context(request).resource = f"consents/{consent_id}"
    try:
        return registry.find(session, provider_id=principal.org_id, consent_id=consent_id,
                             pseudonymiser=request.app.state.runtime.pseudonymiser)
    except registry.ConsentNotFound:
        raise Problem(404, f"no consent {consent_id}") from None


@router.post(
    "",
    status_code=201,
    response_model=ConsentStatusResponse,
    summary="Register a consent",
    responses=problem_responses(400, 401, 403, 409),
    name="consents.register",
)
@audited("consents.register")
def register_consent(
    body: ConsentRequest,
    request: Request,
    session: dependencies.DbSession,
    principal: ConsentsWriter,
    runtime: RuntimeDep,
) -> ConsentStatusResponse:
    context = audit_context(request)
    context.purpose = body.purpose
    new = registry.NewConsent(**body.model_dump())
    try:
        row = registry.register(
            session, provider_id=principal.org_id, new=new, pseudonymiser=runtime.pseudonymiser,
            configuration=runtime.privacy.configuration, known_municipalities=runtime.codelists.municipalities,
            keys=runtime.records.vault,
        )
    except registry.InvalidConsent as exc:
        count = len(exc.errors)
        raise Problem(400, f"the consent has {count} invalid field{'s' if count != 1 else ''}; see errors",
                      errors=exc.errors) from None
    except registry.ConsentRefused as exc:
        raise Problem(409, exc.detail, kind=exc.kind) from None
    context.resource = f"consents/{row.consent_id}"
    context.detail = {"municipalities": len(new.municipalities)}
    result = ConsentStatusResponse(consent_id=row.consent_id, status=registry.status(row, runtime.records.vault).value)
    context.commit(session, 201)
    return result


class ConsentBatchRequest(BaseModel):
    """Consents in bulk (atomic); a consent_ref registered before for the same person gives its consent_id back."""

    model_config = ConfigDict(extra="forbid")

    consents: list[ConsentRequest] = Field(min_length=1, description=f"At most {batches.MAX_BATCH_CONSENTS}")


class ConsentBatchItem(BaseModel):
    consent_ref: str = Field(description="The provider's own reference, as sent")
    consent_id: str
    status: Status
    created: bool = Field(description="false: this provider registered the reference before; its consent is reused")


class ConsentBatchResponse(BaseModel):
    created: int
    existing: int
    consents: list[ConsentBatchItem] = Field(description="One per consent sent, in order")


@router.post(
    "/batches",
    response_model=ConsentBatchResponse,
    summary="Register consents in bulk (atomic; a reference registered before gives its consent back)",
    responses=problem_responses(400, 401, 403, 409, 413),
    name="consents.batch",
)
@audited("consents.batch")
def register_consents(
    body: ConsentBatchRequest,
    request: Request,
    session: dependencies.DbSession,
    principal: ConsentsWriter,
    runtime: RuntimeDep,
) -> ConsentBatchResponse:
    context = audit_context(request)
    context.purpose = "outcome-monitoring"
    if len(body.consents) > batches.MAX_BATCH_CONSENTS:
        raise Problem(413, f"a batch holds at most {batches.MAX_BATCH_CONSENTS} consents; split it",
                      kind="batch-too-large",
                      errors=[{"field": "consents",
                               "reason": f"{len(body.consents)} consents; at most {batches.MAX_BATCH_CONSENTS}"}])
    items = [registry.NewConsent(**item.model_dump()) for item in body.consents]
    try:
        made = batches.register_batch(
            session, provider_id=principal.org_id, items=items, pseudonymiser=runtime.pseudonymiser,
            configuration=runtime.privacy.configuration, known_municipalities=runtime.codelists.municipalities,
            keys=runtime.records.vault,
        )
    except registry.InvalidConsent as exc:
        count = len({e.get("index") for e in exc.errors})
        raise Problem(400, f"{count} of {len(items)} consents are invalid; nothing was stored",
                      errors=exc.errors) from None
    except registry.ConsentRefused as exc:
        raise Problem(409, exc.detail, kind=exc.kind) from None
    created = sum(m.created for m in made)
    context.resource = "consents/batches"
    context.detail = {"created": created, "existing": len(made) - created}
    result = ConsentBatchResponse(
        created=created, existing=len(made) - created,
        consents=[ConsentBatchItem(consent_ref=item.consent_ref, consent_id=m.consent_id,
                                   status=m.status, created=m.created)
                  for item, m in zip(body.consents, made, strict=True)],
    )
    context.commit(session)
    return result


@router.get(
    "",
    response_model=ConsentStatusResponse,
    summary="Find your own consent by your own reference (through the keyed hash the service stores)",
    responses=problem_responses(400, 401, 403, 404),
    name="consents.find",
)
@audited("consents.read")
def find_consent(
    request: Request,
    session: dependencies.DbSession,
    principal: ConsentsWriter,
    runtime: RuntimeDep,
    consent_ref: str = Query(min_length=1, max_length=100, pattern=plain_text.PATTERN,
                             description="The provider's own reference, as registered"),
) -> ConsentStatusResponse:
    audit_context(request).resource = "consents?consent_ref"
    try:
        row = batches.find_by_reference(session, provider_id=principal.org_id, consent_ref=consent_ref,
                                        pseudonymiser=runtime.pseudonymiser, keys=runtime.records.vault)
    except registry.ConsentNotFound:
        raise Problem(404, "you registered no consent with this consent_ref") from None
    audit_context(request).resource = f"consents/{row.consent_id}"
    return ConsentStatusResponse(consent_id=row.consent_id, status=registry.status(row, runtime.records.vault).value)


@router.get(
    "/{consent_id}",
    response_model=ConsentStatusResponse,
    summary="A consent's status (for the provider that registered it)",
    responses=problem_responses(400, 401, 403, 404),
    name="consents.status",
)
@audited("consents.read")
def consent_status(
    request: Request,
    session: dependencies.DbSession,
    principal: ConsentsWriter,
    runtime: RuntimeDep,
    consent_id: str = ConsentId,
) -> ConsentStatusResponse:
    row = _own_consent(request, session, principal, consent_id)
    return ConsentStatusResponse(consent_id=row.consent_id, status=registry.status(row, runtime.records.vault).value)


@router.post(
    "/{consent_id}/withdraw",
    response_model=ConsentStatusResponse,
    summary="Withdraw a consent (final; takes effect at once)",
    responses=problem_responses(400, 401, 403, 404),
    name="consents.withdraw",
)
@audited("consents.withdraw")
def withdraw_consent(
    request: Request,
    session: dependencies.DbSession,
    principal: ConsentsWriter,
    runtime: RuntimeDep,
    consent_id: str = ConsentId,
) -> ConsentStatusResponse:
    context = audit_context(request)
    row = _own_consent(request, session, principal, consent_id)
    already = registry.is_withdrawn(row, runtime.records.vault)
    counts = withdrawal.withdraw_consent(session, runtime.records, row)
    context.detail = {"already_withdrawn": 1} if already else counts
    context.commit(session)
    return ConsentStatusResponse(consent_id=row.consent_id, status="withdrawn")
