"""RFC 9457 problem details: every error this service gives is ``application/problem+json``.

A problem has a stable ``type`` (``urn:outcome-ttp:problem:<name>``), a ``title``, the HTTP
``status``, a human ``detail`` and, for invalid input, ``errors``: every error at once, each with
the ``field`` at fault, the ``reason`` and, for batches, the record ``index``.

Every problem type and its title are defined here, once (:class:`ProblemType` constants); the rest
of the service raises :class:`Problem` with a status and, for a specific problem, its type (or its
name, which must be defined here).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import plain_text

PROBLEM_JSON = "application/problem+json"
PREFIX = "urn:outcome-ttp:problem:"
log = logging.getLogger("ttp.http")


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: its stable ``type`` (:data:`PREFIX` + ``name``), ``title`` and status."""

    name: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        return PREFIX + self.name

    def specific(self, name: str) -> ProblemType:
        """A more specific problem with this one's status and title (clients may tell it apart)."""
        return ProblemType(name, self.status, self.title)


# ---- every problem this service gives: the one place where types and titles are defined ---------
# The general problem of each status; a Problem without a kind is the general one of its status.
INVALID_INPUT = ProblemType("invalid-input", 400, "Invalid input")
UNAUTHENTICATED = ProblemType("unauthenticated", 401, "Not authenticated")
FORBIDDEN = ProblemType("forbidden", 403, "Not allowed")
NOT_FOUND = ProblemType("not-found", 404, "Not found")
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", 405, "Method not allowed")
NOT_ACCEPTABLE = ProblemType("not-acceptable", 406, "Not acceptable")
CONFLICT = ProblemType("conflict", 409, "Conflict")
GONE = ProblemType("gone", 410, "Gone")
PAYLOAD_TOO_LARGE = ProblemType("payload-too-large", 413, "Payload too large")
UNSUPPORTED_MEDIA_TYPE = ProblemType("unsupported-media-type", 415, "Unsupported media type")
RATE_LIMITED = ProblemType("rate-limited", 429, "Too many requests")
INTERNAL_ERROR = ProblemType("internal-error", 500, "Internal error")
UNAVAILABLE = ProblemType("unavailable", 503, "Service unavailable")

# Specific problems: the token endpoint (RFC 6749 5.2 error codes) ...
INVALID_CLIENT = UNAUTHENTICATED.specific("invalid-client")
UNSUPPORTED_GRANT_TYPE = INVALID_INPUT.specific("unsupported-grant-type")
INVALID_SCOPE = INVALID_INPUT.specific("invalid-scope")
# ... records and consents (the kinds app.records.ingestion and app.consents.registry give) ...
BATCH_TOO_LARGE = PAYLOAD_TOO_LARGE.specific("batch-too-large")
CONSENT_EXISTS = CONFLICT.specific("consent-exists")
CONSENT_MISSING = CONFLICT.specific("consent-missing")
CONSENT_MISMATCH = CONFLICT.specific("consent-mismatch")
CONSENT_WITHDRAWN = CONFLICT.specific("consent-withdrawn")
CONSENT_NOT_COVERING = CONFLICT.specific("consent-not-covering")
# ... and reports.
NOT_YET_PUBLISHED = CONFLICT.specific("not-yet-published")
PAST_RETENTION = GONE.specific("past-retention")

GENERAL: dict[int, ProblemType] = {
    t.status: t
    for t in (INVALID_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED, NOT_ACCEPTABLE, CONFLICT, GONE,
              PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, RATE_LIMITED, INTERNAL_ERROR, UNAVAILABLE)
}
#: Every problem type by name.
TYPES: dict[str, ProblemType] = {
    t.name: t
    for t in (*GENERAL.values(), INVALID_CLIENT, UNSUPPORTED_GRANT_TYPE, INVALID_SCOPE, BATCH_TOO_LARGE,
              CONSENT_EXISTS, CONSENT_MISSING, CONSENT_MISMATCH, CONSENT_WITHDRAWN, CONSENT_NOT_COVERING,
              NOT_YET_PUBLISHED, PAST_RETENTION)
}


def problem_kind(status: int, kind: ProblemType | str | None = None) -> ProblemType:
    """The problem type for ``status``: ``kind`` (a type or its name), else the general one of the
    status. Raises ValueError for a name not defined here or a kind of another status."""
    if kind is None:
        return GENERAL.get(status) or ProblemType("error", status, "Error")
    found = TYPES.get(kind) if isinstance(kind, str) else kind
    if found is None:
        raise ValueError(f"unknown problem type {kind!r}: define it in app/problems.py")
    if found.status != status:
        raise ValueError(f"problem type {found.name!r} is a {found.status}, not a {status}")
    return found


class FieldError(BaseModel):
    """One error in the input."""

    index: int | None = Field(default=None, description="Position of the item in a batch")
    field: str = Field(description="Dotted path of the field at fault, e.g. outcomes.satisfaction.mark")
    reason: str


class ProblemDocument(BaseModel):
    """The body of every error response (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: ProblemType | str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = problem_kind(status, kind)
        self.errors = errors
        self.headers = headers or {}

    @property
    def kind(self) -> str:
        return self.type.name

    @property
    def title(self) -> str:
        return self.type.title


def problem_body(problem: Problem, instance: str | None = None) -> dict[str, Any]:
    """The problem document as a dict (``type``, ``title``, ``status``, ``detail``, ...)."""
    body: dict[str, Any] = {
        "type": problem.type.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors is not None:
        body["errors"] = problem.errors
    return body


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body = problem_body(problem, instance)
    headers = dict(problem.headers)
    if problem.status == 401:
        headers.setdefault("WWW-Authenticate", 'Bearer realm="outcome-ttp"')
    return JSONResponse(body, status_code=problem.status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        else:
            path += ("." if path else "") + str(item)
    return path


def validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn pydantic/FastAPI error locations into ``{index?, field, reason}`` items."""
    out: list[dict[str, Any]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        where = loc[0] if loc else "body"
        rest = loc[1:] if where in ("body", "query", "path", "header", "cookie") else loc
        item: dict[str, Any] = {}
        if len(rest) >= 2 and rest[0] == "records" and isinstance(rest[1], int):
            item["index"] = rest[1]
            rest = rest[2:]
        reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":
            reason = f"not valid JSON ({err.get('ctx', {}).get('error', 'syntax error')})"
            rest = ()
        elif err.get("type") == "missing":
            reason = "required"
        elif err.get("type") == "extra_forbidden":
            reason = "not accepted: unknown field"
        elif err.get("type") == "string_unicode":
            reason = plain_text.UNICODE_REASON
        elif err.get("type") == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == plain_text.PATTERN:
            reason = plain_text.CONTROL_REASON
        field = _field_path(rest) or (where if where != "body" else "body")
        if where in ("query", "path", "header") and rest:
            field = f"{where}.{_field_path(rest)}"
        item["field"] = field
        item["reason"] = reason
        out.append(item)
    return out


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(list(exc.errors()))
        count = len(errors)
        detail = f"the request has {count} invalid field{'s' if count != 1 else ''}; see errors"
        return problem_response(Problem(400, detail, errors=errors), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        limit = getattr(request.state, "body_too_large", None)
        if limit is not None:
            detail = f"the request body is larger than {limit} bytes; send smaller batches"
            return problem_response(Problem(413, detail), request.url.path)
        general = GENERAL.get(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else (general.title if general else "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
            headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
        if exc.status_code == 400 and detail == _FASTAPI_BODY_ERROR:
            # FastAPI could not parse a JSON body (nested too deeply, a number with too many digits).
            reason = unreadable_json_reason(exc.__cause__)
            return problem_response(
                Problem(400, f"the body cannot be read: {reason}", errors=[{"field": "body", "reason": reason}]),
                request.url.path,
            )
        return problem_response(Problem(exc.status_code, detail, headers=headers), request.url.path)

    @app.exception_handler(IntegrityError)
    async def _conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique constraint refused a concurrent change of the same thing (the SQLite writer lock
        # serialises such requests; PostgreSQL lets them race to the constraint): a 409 on both.
        log.warning("conflict", extra={"error_type": type(exc.orig).__name__, "path": request.url.path})
        return problem_response(
            Problem(409, "the request conflicts with a change made at the same moment; nothing was changed. "
                         "Read the current state and retry."),
            request.url.path,
        )

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        # The database is busy (SQLite's write lock past its timeout, a PostgreSQL lock or connection
        # timeout): the request changed nothing and may simply be sent again, so 503 with Retry-After.
        busy = any(word in str(exc.orig).lower() for word in ("locked", "busy", "timeout", "timed out"))
        if not busy:
            return await _unexpected(request, exc)
        log.warning("database busy", extra={"error_type": type(exc.orig).__name__, "path": request.url.path})
        return problem_response(
            Problem(503, "the database is busy; nothing was changed. Send the request again after Retry-After.",
                    headers={"Retry-After": "5"}),
            request.url.path,
        )

    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy past the pool's timeout: excess load, not an error
        # of the request, which changed nothing and may be sent again.
        log.warning("connection pool exhausted", extra={"error_type": "PoolTimeout", "path": request.url.path})
        return problem_response(
            Problem(503, "the service is busy; nothing was changed. Send the request again after Retry-After.",
                    headers={"Retry-After": "5"}),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error_type": type(exc).__name__, "path": request.url.path})
        return problem_response(
            Problem(500, "an unexpected error occurred; nothing was changed. The request id is in the logs."),
            request.url.path,
        )


_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def unreadable_json_reason(exc: BaseException | None) -> str:
    """Why a JSON body could not be parsed, without repeating any of it."""
    if isinstance(exc, RecursionError):
        return "not valid JSON: nested too deeply"
    if isinstance(exc, UnicodeError):
        return "not valid JSON: not UTF-8 text"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return "not valid JSON: a number has too many digits"
    return f"not valid JSON ({exc})" if isinstance(exc, ValueError) else "not valid JSON"


_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _allowed_methods(request: Request) -> list[str]:
    """Every method the service answers at the request's path, from its OpenAPI document (for the
    ``Allow`` of a 405: the router only names the methods of the first route that matched)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = re.split(r"(\{[^}/]+\})", template)
        pattern = "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
        if re.fullmatch(pattern, request.url.path):
            methods |= {name.upper() for name in operations if name in _OPERATIONS}
    return sorted(methods)


#: OpenAPI ``responses`` entry for the common problem answers.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": ProblemDocument,
            "description": problem_kind(status).title,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}},
        }
        for status in statuses
    }
