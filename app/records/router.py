"""HTTP: record batches (JSON or CSV) and retractions, for providers."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, TypeAdapter
from starlette.concurrency import run_in_threadpool

from app import dependencies
from app.auth.principal import Principal, audit_context, audited
from app.dependencies import RuntimeDep
from app.problems import Problem, problem_responses
from app.records import ingestion
from app.records.auth import RecordsWriter
from app.records.schemas import BatchBody, CsvFormatError, parse_csv
from app.runtime import Runtime

router = APIRouter(prefix="/v1/records", tags=["records"])

_BATCH_SCHEMA = TypeAdapter(BatchBody).json_schema(ref_template="#/components/schemas/{model}")


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int
    replaced: int


def _items(body: bytes, content_type: str) -> list[Any]:
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Problem(400, "the body is not valid JSON",
                          errors=[{"field": "body", "reason": f"not valid JSON ({exc})"}]) from None
        if not isinstance(document, dict) or set(document) != {"records"} or not isinstance(document["records"], list):
            raise Problem(400, 'the body must be {"records": [...]}',
                          errors=[{"field": "records", "reason": "must be the only field, a list of records"}])
        return document["records"]
    if media == "text/csv":
        try:
            return parse_csv(body.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise Problem(400, "the CSV is not UTF-8", errors=[{"field": "body", "reason": "not UTF-8"}]) from None
        except CsvFormatError as exc:
            raise Problem(400, f"the CSV cannot be read: {exc}",
                          errors=[{"field": getattr(exc, "column", None) or "header", "reason": str(exc)}]) from None
    raise Problem(415, f"send application/json or text/csv, not {media or 'no content type'}")


@router.post(
    "/batches",
    response_model=BatchAccepted,
    summary="Submit a batch of records (atomic; a resent record_id replaces the earlier version)",
    responses=problem_responses(400, 401, 403, 409, 413, 415),
    name="records.batch",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _BATCH_SCHEMA},
                "text/csv": {"schema": {"type": "string", "description": "The header of `ttp records template`"}},
            },
        }
    },
)
@audited("records.batch")
async def submit_batch(
    request: Request,
    principal: RecordsWriter,
    runtime: RuntimeDep,
) -> BatchAccepted:
    body = await request.body()
    items = _items(body, request.headers.get("content-type", ""))
    context = audit_context(request)
    context.purpose = "outcome-monitoring"
    context.detail = {"submitted": len(items)}
    return await run_in_threadpool(_store, runtime, principal, items, context)


def _store(runtime: Runtime, principal: Principal, items: list[Any], context: Any) -> BatchAccepted:
    session = runtime.sessions()
    try:
        try:
            result = ingestion.ingest_batch(session, runtime.records, provider_id=principal.org_id, items=items)
        except ingestion.BatchRejected as exc:
            session.rollback()
            context.detail = {"submitted": len(items), "refused": len({e.get("index") for e in exc.errors})}
            raise Problem(exc.status, exc.detail, kind=exc.kind, errors=exc.errors) from None
        context.resource = f"records/batches/{result.batch_id}"
        context.detail = {"accepted": result.accepted, "replaced": result.replaced}
        context.commit(session)
    finally:
        session.close()
    return BatchAccepted(batch_id=result.batch_id, accepted=result.accepted, replaced=result.replaced)


@router.delete(
    "/{record_id}",
    status_code=204,
    summary="Retract one of your own records (its counts leave every report)",
    responses=problem_responses(400, 401, 403, 404),
    name="records.retract",
)
@audited("records.retract")
def retract_record(
    request: Request,
    session: dependencies.DbSession,
    principal: RecordsWriter,
    runtime: RuntimeDep,
    record_id: str = Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$"),
) -> Response:
    context = audit_context(request)
    context.resource = f"records/{record_id}"
    try:
        ingestion.retract(session, runtime.records, provider_id=principal.org_id, record_id=record_id)
    except ingestion.RecordNotFound:
        raise Problem(404, f"no record {record_id} of yours") from None
    context.detail = {"removed": 1}
    context.commit(session, 204)
    return Response(status_code=204)
