"""HTTP: the consent registry for providers (register, read status, withdraw)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from app import dependencies
from app.auth.principal import Principal, audit_context, audited
from app.consents import registry, withdrawal
from app.consents.auth import ConsentsWriter
from app.dependencies import RuntimeDep
from app.models import ConsentRecord
from app.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/consents", tags=["consents"])

ConsentId = Path(pattern=r"^cns-[A-Za-z0-9_-]{10,40}$", max_length=44, description="The TTP's consent id")


class ConsentRequest(BaseModel):
    """A consent as the provider registers it. The pseudonym is the stage-1 pseudonym made by
    `ttp pseudonymise`; the TTP keeps only its stage-2 pseudonym."""

    model_config = ConfigDict(extra="forbid")

    consent_ref: str = Field(min_length=1, max_length=100, description="The provider's own reference")
    pseudonym: str = Field(min_length=1, max_length=128, description="Stage-1 pseudonym (p1.v1.…), never a BSN")
    given_by: str = Field(description="youth | parents | youth_and_parents | guardian (must fit the age)")
    age_at_consent: int = Field(description="Age in years when the consent was given")
    purpose: str = Field(default="outcome-monitoring", max_length=100)
    municipalities: list[str] = Field(min_length=1, max_length=50, description="GMxxxx codes the consent covers")
    given_at: date
    valid_until: date | None = None


Status = Literal["active", "withdrawn", "expired", "not_yet_valid"]


class ConsentStatusResponse(BaseModel):
    consent_id: str
    status: Status


def _own_consent(request: Request, session: Session, principal: Principal, consent_id: str) -> ConsentRecord:
    """The caller's own consent, or 404 (another provider's consent is 'not found' too)."""
    audit_context(request).resource = f"consents/{consent_id}"
    try:
        return registry.find(session, provider_id=principal.org_id, consent_id=consent_id)
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
        )
    except registry.InvalidConsent as exc:
        count = len(exc.errors)
        raise Problem(400, f"the consent has {count} invalid field{'s' if count != 1 else ''}; see errors",
                      errors=exc.errors) from None
    except registry.ConsentRefused as exc:
        raise Problem(409, exc.detail, kind=exc.kind) from None
    context.resource = f"consents/{row.consent_id}"
    context.detail = {"municipalities": len(row.municipalities)}
    result = ConsentStatusResponse(consent_id=row.consent_id, status=registry.status(session, row).value)
    context.commit(session, 201)
    return result


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
    consent_id: str = ConsentId,
) -> ConsentStatusResponse:
    row = _own_consent(request, session, principal, consent_id)
    return ConsentStatusResponse(consent_id=row.consent_id, status=registry.status(session, row).value)


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
    consent_id: str = ConsentId,
) -> ConsentStatusResponse:
    context = audit_context(request)
    row = _own_consent(request, session, principal, consent_id)
    already = row.withdrawn_at is not None
    counts = withdrawal.withdraw_consent(session, request.app.state.runtime.records, row)
    context.detail = {"already_withdrawn": 1} if already else counts
    context.commit(session)
    return ConsentStatusResponse(consent_id=row.consent_id, status="withdrawn")
