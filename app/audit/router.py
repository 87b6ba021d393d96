"""HTTP: the privacy officer's view of the audit log (read, export, signed head, proofs, verify).

Every endpoint needs the scope ``audit:read`` on a privacy officer's token. Reading the log is
itself audited (the middleware writes the entry; the checkpoint endpoint writes it with the
checkpoint it stores).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, Field

from app import dependencies
from app.audit import checkpoint_store as checkpoints
from app.audit import reading
from app.audit.auth import AuditReader
from app.audit.verification import verify_log
from app.auth.clients import OrgType
from app.auth.principal import audit_context, audited
from app.dependencies import RuntimeDep
from app.negotiation import preferred_media_type
from app.problems import Problem, problem_responses

router = APIRouter(prefix="/v1/audit", tags=["privacy officer"])

JSON = "application/json"
CSV = "text/csv"
NDJSON = "application/x-ndjson"
#: Largest sequence number or size accepted in a query (beyond any real log; within JSON's safe integers).
MAX_SIZE = 2**53


def _text(content: str, description: str) -> dict[str, Any]:
    return {"content": {content: {"schema": {"type": "string"}}}, "description": description}


# ---- entries ------------------------------------------------------------------------------------
class AuditEntryOut(BaseModel):
    """One audit entry. Its leaf hash is SHA-256(0x00 || canonical JSON of every field here but
    ``leaf_hash``, keys sorted, no spaces, UTF-8), with ``at`` exactly as given."""

    seq: int
    at: str = Field(description="UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ (the form the leaf hash covers)")
    request_id: str | None
    client_id: str | None
    org_type: str | None
    org_id: str | None
    role: str | None
    action: str
    resource: str | None
    purpose: str | None
    result: str
    status: int | None
    source: str | None
    detail: dict[str, Any] | None
    leaf_hash: str = Field(description="RFC 9162 leaf hash, hex")


class AuditEntryPage(BaseModel):
    entries: list[AuditEntryOut]
    count: int
    next_after_seq: int | None = Field(description="Pass as after_seq for the next page; null on the last page")


_IDENTIFIER = r"^[A-Za-z0-9._:-]+$"


def _iso_8601_only(value: Any) -> Any:
    """A time filter is an ISO 8601 date-time; a bare number (pydantic's Unix time) is refused."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2025-01-01T00:00:00Z")
    return value


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
TimeFilter = Annotated[datetime | None, BeforeValidator(_iso_8601_only)]


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Problem(400, f"{name} is out of range", errors=[{"field": f"query.{name}", "reason": "out of range"}]) \
            from None


@router.get(
    "/entries",
    response_model=AuditEntryPage,
    summary="Audit entries, filtered and paged (JSON, CSV or JSON lines)",
    description=(
        "Entries in sequence order, after `after_seq`, at most `limit`. `Accept: text/csv` gives CSV "
        "(detail as JSON; a text a spreadsheet would run as a formula is prefixed with `'`), "
        "`Accept: application/x-ndjson` one JSON entry per line. When there is a next page, the "
        "`Link` header (rel=next) points at it."
    ),
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}, NDJSON: {"schema": {"type": "string"}}},
                     "description": "Audit entries"},
               **problem_responses(400, 401, 403)},
    name="audit.entries",
)
@audited("audit.entries.read")
def entries(
    request: Request,
    session: dependencies.DbSession,
    principal: AuditReader,
    from_: Annotated[TimeFilter, Query(alias="from", description="Entries at or after this time (ISO 8601)")] = None,
    to: Annotated[TimeFilter, Query(description="Entries before this time (ISO 8601)")] = None,
    client_id: Annotated[str | None, Query(max_length=64, pattern=_IDENTIFIER)] = None,
    org_type: Annotated[str | None, Query(pattern=f"^({'|'.join(OrgType)})$",
                                          description="The kind of organisation on whose behalf")] = None,
    org_id: Annotated[str | None, Query(max_length=32, pattern=_IDENTIFIER)] = None,
    action: Annotated[str | None, Query(max_length=100, pattern=_IDENTIFIER)] = None,
    result: Annotated[str | None, Query(pattern=f"^({'|'.join(reading.RESULTS)})$")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 100,
    after_seq: Annotated[int, Query(ge=0, le=MAX_SIZE)] = 0,
) -> Any:
    where = reading.EntryFilter(start=_utc(from_, "from"), end=_utc(to, "to"), client_id=client_id,
                                org_type=org_type, org_id=org_id, action=action, result=result)
    rows = reading.entries(session, where, limit=limit, after_seq=after_seq)
    next_after = rows[-1]["seq"] if len(rows) == limit else None
    media = preferred_media_type(request, [JSON, CSV, NDJSON])
    audit_context(request).detail = {"count": len(rows), "format": media}
    headers = {}
    if next_after is not None:
        headers["Link"] = f'<{request.url.include_query_params(after_seq=next_after)}>; rel="next"'
    if media == CSV:
        return Response(reading.csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)
    if media == NDJSON:
        return Response(reading.ndjson_text(rows), media_type=NDJSON, headers=headers)
    page = AuditEntryPage(entries=[AuditEntryOut(**row) for row in rows], count=len(rows),
                          next_after_seq=next_after)
    return Response(page.model_dump_json(), media_type=JSON, headers=headers)


# ---- the signed head ----------------------------------------------------------------------------
class CheckpointOut(BaseModel):
    """A signed checkpoint; save it and pass it to `ttp audit verify --checkpoint FILE` later."""

    size: int
    root_hash: str = Field(description="RFC 9162 root of the first `size` entries, hex")
    timestamp: str = Field(description="UTC, whole seconds, YYYY-MM-DDTHH:MM:SSZ")
    key_id: str
    signature: str = Field(description="Ed25519 signature of `signed_payload`, base64")
    public_key: str = Field(description="The Ed25519 public key, raw 32 bytes, base64")
    public_key_pem: str
    signed_payload: str = Field(
        description="The signed text: 'outcome-ttp audit log', size, root (base64), timestamp, key id; "
        "each line ends with a newline"
    )
    created: bool = Field(description="False when the log had not grown since this checkpoint was made")


@router.get(
    "/checkpoint",
    response_model=CheckpointOut,
    summary="The signed head of the log (made now when the log grew)",
    responses=problem_responses(401, 403),
    name="audit.checkpoint",
)
@audited("audit.checkpoint.read")
def checkpoint(
    request: Request,
    session: dependencies.DbSession,
    principal: AuditReader,
    runtime: RuntimeDep,
) -> CheckpointOut:
    made = checkpoints.make_checkpoint(session, runtime.keyring)
    cp = made.record.as_checkpoint()
    document = checkpoints.checkpoint_document(cp, checkpoints.public_key(runtime.keyring, cp.key_id))
    context = audit_context(request)
    context.detail = {"size": cp.size, "created": made.created, "audit_key_id": cp.key_id}
    context.commit(session)  # the checkpoint and this read are stored together
    return CheckpointOut(**document, created=made.created)


# ---- proofs -------------------------------------------------------------------------------------
class InclusionProof(BaseModel):
    seq: int
    leaf_index: int = Field(description="seq - 1: the leaf's index in the tree")
    size: int
    leaf_hash: str
    root_hash: str = Field(description="Root of the tree of `size` entries; compare with your checkpoint")
    proof: list[str] = Field(description="RFC 9162 inclusion path, hex, leaf side first")


class ConsistencyProof(BaseModel):
    from_size: int
    to_size: int
    from_root: str
    to_root: str
    proof: list[str] = Field(description="RFC 9162 consistency proof, hex")


def _within(tree_size: int, field: str, value: int) -> None:
    if value > tree_size:
        raise Problem(400, f"{field} is {value} but the log has {tree_size} entries",
                      errors=[{"field": f"query.{field}", "reason": f"must be at most {tree_size}"}])


@router.get(
    "/proofs/inclusion",
    response_model=InclusionProof,
    summary="Proof that entry `seq` is in the log of `size` entries",
    responses=problem_responses(400, 401, 403),
    name="audit.proofs.inclusion",
)
@audited("audit.proofs.inclusion.read")
def inclusion_proof(
    request: Request,
    session: dependencies.DbSession,
    seq: Annotated[int, Query(ge=1, le=MAX_SIZE, description="The entry's sequence number")],
    size: Annotated[int, Query(ge=1, le=MAX_SIZE, description="Tree size, e.g. from a checkpoint")],
    principal: AuditReader,
) -> InclusionProof:
    audit_context(request).detail = {"seq": seq, "size": size}
    tree = checkpoints.current_tree(session)
    _within(tree.size, "size", size)
    if seq > size:
        raise Problem(400, f"entry {seq} is not in a tree of {size} entries",
                      errors=[{"field": "query.seq", "reason": f"must be at most size ({size})"}])
    return InclusionProof(
        seq=seq, leaf_index=seq - 1, size=size,
        leaf_hash=tree.leaf(seq - 1).hex(), root_hash=tree.root_at(size).hex(),
        proof=[h.hex() for h in tree.inclusion_proof(seq - 1, size)],
    )


@router.get(
    "/proofs/consistency",
    response_model=ConsistencyProof,
    summary="Proof that the log of `to_size` entries extends the log of `from_size` entries",
    responses=problem_responses(400, 401, 403),
    name="audit.proofs.consistency",
)
@audited("audit.proofs.consistency.read")
def consistency_proof(
    request: Request,
    session: dependencies.DbSession,
    from_size: Annotated[int, Query(ge=0, le=MAX_SIZE)],
    to_size: Annotated[int, Query(ge=0, le=MAX_SIZE)],
    principal: AuditReader,
) -> ConsistencyProof:
    audit_context(request).detail = {"from_size": from_size, "to_size": to_size}
    tree = checkpoints.current_tree(session)
    _within(tree.size, "to_size", to_size)
    if from_size > to_size:
        raise Problem(400, "from_size must not exceed to_size",
                      errors=[{"field": "query.from_size", "reason": f"must be at most to_size ({to_size})"}])
    return ConsistencyProof(
        from_size=from_size, to_size=to_size,
        from_root=tree.root_at(from_size).hex(), to_root=tree.root_at(to_size).hex(),
        proof=[h.hex() for h in tree.consistency_proof(from_size, to_size)],
    )


# ---- verify -------------------------------------------------------------------------------------
class VerificationProblem(BaseModel):
    seq: int | None = Field(description="The first entry concerned (null: a checkpoint, not an entry)")
    last_seq: int | None = Field(description="Set when the problem lies somewhere in seq..last_seq")
    reason: str


class VerificationResult(BaseModel):
    ok: bool
    entries: int
    root_hash: str
    checkpoints_checked: int = Field(description="Stored signed checkpoints that match the recomputed tree")
    first_problem: VerificationProblem | None


@router.get(
    "/verify",
    response_model=VerificationResult,
    summary="Verify the whole log: recomputed leaves, dense numbering, every signed checkpoint",
    responses=problem_responses(401, 403),
    name="audit.verify",
)
@audited("audit.verify")
def verify(
    request: Request,
    session: dependencies.DbSession,
    principal: AuditReader,
    runtime: RuntimeDep,
) -> VerificationResult:
    outcome = verify_log(session, runtime.keyring)
    audit_context(request).detail = {"count": outcome.entries, "ok": outcome.ok}
    problem = outcome.first_problem
    return VerificationResult(
        ok=outcome.ok,
        entries=outcome.entries,
        root_hash=outcome.root_hash.hex(),
        checkpoints_checked=outcome.checkpoints_checked,
        first_problem=VerificationProblem(**problem.as_dict()) if problem else None,
    )
