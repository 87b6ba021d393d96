"""HTTP: the privacy officer's view of the configuration the running service enforces."""

from __future__ import annotations

import tomllib
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from app import dependencies
from app.auth.clients import OrgType
from app.auth.principal import Principal, audit_context, requires
from app.privacy.configuration import MINIMUM_CELL_SIZE_FLOOR
from app.problems import problem_responses
from app.runtime import Runtime

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
def configuration(
    request: Request,
    principal: Principal = Depends(
        requires("privacy:read", OrgType.privacy_officer, OrgType.admin, action="privacy.configuration.read")
    ),
    runtime: Runtime = Depends(dependencies.runtime),
) -> ActiveConfiguration:
    loaded = runtime.privacy
    audit_context(request).detail = {"privacy_config_sha256": loaded.sha256}
    return ActiveConfiguration(
        sha256=loaded.sha256,
        version=loaded.configuration.version,
        configuration=tomllib.loads(loaded.text),
        minimum_cell_size_floor=MINIMUM_CELL_SIZE_FLOOR,
    )
