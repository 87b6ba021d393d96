"""HTTP: the publication register for the privacy officer (what was published, for whom, when)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from app import dependencies
from app.audit.auth import AuditReader
from app.auth.principal import audit_context, audited
from app.problems import Problem, problem_responses
from app.reports import releases

router = APIRouter(prefix="/v1/releases", tags=["releases"])


class IndicatorFigures(BaseModel):
    cells: int
    withheld: int
    below_threshold: int = Field(description="Withheld because fewer people than the threshold are in it")
    to_protect_others: int = Field(description="Withheld so that no cell below the threshold can be derived")


class ReleaseEntry(BaseModel):
    id: str
    family: str = Field(description="municipality:GMxxxx, region:<name> or provider:<AGB>")
    year: int
    framework: str
    sequence: int
    slot: date = Field(description="The calendar date the release was made for")
    periods: list[str]
    as_of: datetime = Field(description="When the counts it was cut from were read")
    published_at: datetime
    config_sha256: str = Field(description="SHA-256 of the privacy configuration in force")
    indicators: dict[str, IndicatorFigures]
    changes_held_back: dict[str, int] = Field(
        description="Changes since the previous release too small to publish safely; they wait")
    content_sha256: str = Field(description="SHA-256 of the stored content; also in the audit log")
    key_id: str
    signature: str = Field(description="Ed25519 signature (audit-signing key) over the release's identity and hash")
    current: bool = Field(description="Whether reports are served from this release now")


def _entry(item: dict[str, Any]) -> ReleaseEntry:
    figures = item.pop("figures")
    return ReleaseEntry(**item, indicators=figures.get("indicators", {}),
                        changes_held_back=figures.get("changes_held_back", {}))


@router.get("", response_model=list[ReleaseEntry], summary="The publication register: every release",
            responses=problem_responses(401, 403), name="releases.list")
@audited("releases.list")
def list_releases(request: Request, session: dependencies.ReadSession, principal: AuditReader) -> list[ReleaseEntry]:
    entries = [_entry(item) for item in releases.register(session)]
    audit_context(request).detail = {"releases": len(entries)}
    return entries


@router.get("/{release_id}", response_model=ReleaseEntry, summary="One release of the register",
            responses=problem_responses(401, 403, 404), name="releases.get")
@audited("releases.read")
def get_release(
    request: Request,
    session: dependencies.ReadSession,
    principal: AuditReader,
    release_id: str = Path(pattern=r"^rel-[A-Za-z0-9_-]{10,40}$"),
) -> ReleaseEntry:
    found = releases.register(session, release_id=release_id)
    if not found:
        raise Problem(404, f"no release {release_id}")
    audit_context(request).resource = release_id
    return _entry(found[0])
