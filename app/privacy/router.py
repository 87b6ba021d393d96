"""HTTP: the privacy officer's view of the configuration the running service enforces."""

from __future__ import annotations

import tomllib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.negotiation import preferred_media_type
from app.privacy import documents
from app.privacy.auth import PrivacyReader
from app.privacy.configuration import MINIMUM_CELL_SIZE_FLOOR
from app.problems import problem_responses

router = APIRouter(prefix="/v1/privacy", tags=["privacy officer"])


class ActiveConfiguration(BaseModel):
    sha256: str = Field(description="SHA-256 of the configuration file's bytes, as recorded in the audit log")
    version: str
    configuration: dict[str, Any]
    minimum_cell_size_floor: int


@router.get(
    "/configuration",
    response_model=ActiveConfiguration,
    summary="The active privacy configuration and its hash",
    responses=problem_responses(401, 403),
    name="privacy.configuration",
)
@audited("privacy.configuration.read")
def configuration(
    request: Request,
    principal: PrivacyReader,
    runtime: RuntimeDep,
) -> ActiveConfiguration:
    loaded = runtime.privacy
    audit_context(request).detail = {"privacy_config_sha256": loaded.sha256}
    return ActiveConfiguration(
        sha256=loaded.sha256,
        version=loaded.configuration.version,
        configuration=tomllib.loads(loaded.text),
        minimum_cell_size_floor=MINIMUM_CELL_SIZE_FLOOR,
    )


MARKDOWN = "text/markdown"
HTML = "text/html"
JSON = "application/json"


@router.get(
    "/dpia",
    response_class=Response,
    summary="The DPIA annex generated from the active configuration (Markdown or HTML)",
    description="`Accept: text/markdown` (default) or `text/html`. The annex follows the configuration "
    "in force and the code (access roles, key versions); it carries the configuration's SHA-256.",
    responses={
        200: {"content": {MARKDOWN: {"schema": {"type": "string"}}, HTML: {"schema": {"type": "string"}}},
              "description": "The DPIA annex"},
        **problem_responses(401, 403),
    },
    name="privacy.dpia",
)
@audited("privacy.dpia.read")
def dpia(
    request: Request,
    principal: PrivacyReader,
    runtime: RuntimeDep,
) -> Response:
    media = preferred_media_type(request, [MARKDOWN, HTML])
    annex = documents.dpia_annex(runtime.privacy, documents.ServiceFacts.from_runtime(runtime))
    audit_context(request).detail = {"privacy_config_sha256": runtime.privacy.sha256, "format": media}
    if media == HTML:
        return Response(documents.render_html(annex), media_type="text/html; charset=utf-8")
    return Response(documents.render_markdown(annex), media_type="text/markdown; charset=utf-8")


class RegisterParty(BaseModel):
    name: str
    contact: str
    address: str | None
    chamber_of_commerce: str | None


class LegalBasis(BaseModel):
    article: str
    meaning: str


class RegisterPurpose(BaseModel):
    id: str
    description: str
    legal_bases: list[LegalBasis]


class RegisterRecipient(BaseModel):
    name: str
    receives: str


class RegisterRetention(BaseModel):
    records_months: int
    audit_years: int
    records: str
    audit_log: str


class RegisterConfiguration(BaseModel):
    version: str
    sha256: str


class AccessRole(BaseModel):
    organisation: str
    scopes: list[str]


class ProcessingRegister(BaseModel):
    """The record of processing activities (GDPR art. 30), generated from the active configuration."""

    title: str
    configuration: RegisterConfiguration
    controller: RegisterParty
    processor: RegisterParty
    data_protection_officer: RegisterParty
    processing: str
    purposes: list[RegisterPurpose]
    data_subjects: list[str]
    personal_data: list[str]
    special_categories: list[str]
    never_accepted: list[str]
    recipients: list[RegisterRecipient]
    third_country_transfers: str
    retention: RegisterRetention
    security_measures: list[str]
    access_roles: list[AccessRole]


@router.get(
    "/register",
    response_model=ProcessingRegister,
    summary="The GDPR art. 30 processing register (JSON or HTML)",
    description="`Accept: application/json` (default) or `text/html`.",
    responses={200: {"content": {HTML: {"schema": {"type": "string"}}}, "description": "The processing register"},
               **problem_responses(401, 403)},
    name="privacy.register",
)
@audited("privacy.register.read")
def register(
    request: Request,
    principal: PrivacyReader,
    runtime: RuntimeDep,
) -> Any:
    media = preferred_media_type(request, [JSON, HTML])
    record = documents.processing_register(runtime.privacy, documents.ServiceFacts.from_runtime(runtime))
    audit_context(request).detail = {"privacy_config_sha256": runtime.privacy.sha256, "format": media}
    if media == HTML:
        page = documents.render_html(documents.register_document(record))
        return Response(page, media_type="text/html; charset=utf-8")
    return ProcessingRegister.model_validate(record)
