"""HTTP: record batches (JSON or CSV) and retractions, for providers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from app import dependencies
from app.auth.principal import Principal, audit_context, audited
from app.dependencies import RuntimeDep
from app.problems import Problem, problem_responses, unreadable_json_reason
from app.records import ingestion
from app.records.auth import RecordsWriter
from app.records.schemas import CSV_REQUIRED_COLUMNS, BatchBody, CsvFormatError, parse_csv
from app.reports.periods import Period
from app.runtime import Runtime

router = APIRouter(prefix="/v1/records", tags=["records"])

_BATCH_SCHEMA = TypeAdapter(BatchBody).json_schema(ref_template="#/components/schemas/{model}")
#: The schemas of the batch body and of everything it refers to, for the OpenAPI document's
#: ``components`` (app.openapi_document puts them there; a local ``$defs`` would leave the
#: ``#/components/schemas/...`` references dangling).
COMPONENT_SCHEMAS: dict[str, Any] = {**_BATCH_SCHEMA.pop("$defs", {}), str(_BATCH_SCHEMA["title"]): _BATCH_SCHEMA}
#: The smallest CSV that can be valid: the required header columns (each at least once).
_CSV_MIN_LENGTH = len(",".join(CSV_REQUIRED_COLUMNS))


class ReceiptLine(BaseModel):
    municipality: str
    period: str = Field(description="The quarter the trajectories ended in")
    indicator: str
    records: int = Field(description="How many of this batch's records count in it")
    values: dict[str, int] = Field(description="Those records per stored value (this batch's own records only)")
    published_from: date | None = Field(
        description="The first release that may show them (the publication calendar); null: the period is final. "
                    "A change of fewer people than the threshold in some cell waits for a later release")


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int
    replaced: int
    receipt: list[ReceiptLine] = Field(description=(
        "The batch's own records per municipality, quarter and indicator, at once; nothing derived from "
        "other providers' data (3.2 and herhaald beroep are not in it)"))


def _items(body: bytes, content_type: str) -> list[Any]:
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:  # also nested too deeply, or a number of 4,300+ digits
            raise Problem(400, "the body is not valid JSON",
                          errors=[{"field": "body", "reason": unreadable_json_reason(exc)}]) from None
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
                "application/json": {"schema": {"$ref": f"#/components/schemas/{_BATCH_SCHEMA['title']}"}},
                "text/csv": {"schema": {
                    "type": "string", "minLength": _CSV_MIN_LENGTH,
                    "description": "The header of `ttp records template` (its first eight columns are required), "
                                   "then one line per record",
                }},
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
    calendar = runtime.publisher.calendar
    today = datetime.now(UTC).date()
    # A batch's receipt has a line per municipality, quarter and indicator, often thousands, and
    # only a few dozen quarters: each quarter's next change is worked out once.
    published_from = {quarter: calendar.next_change(Period.parse(quarter), today)
                      for quarter in {quarter for _, quarter, _ in result.receipt}}
    lines = [ReceiptLine(municipality=municipality, period=quarter, indicator=indicator, records=sum(values.values()),
                         values=dict(sorted(values.items())), published_from=published_from[quarter])
             for (municipality, quarter, indicator), values in result.receipt.items()]
    return BatchAccepted(batch_id=result.batch_id, accepted=result.accepted, replaced=result.replaced, receipt=lines)


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
