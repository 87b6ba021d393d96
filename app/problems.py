"""RFC 9457 problem details: every error this service gives is ``application/problem+json``.

A problem has a stable ``type`` (``urn:outcome-ttp:problem:<name>``), a ``title``, the HTTP
``status``, a human ``detail`` and, for invalid input, ``errors``: every error at once, each with
the ``field`` at fault, the ``reason`` and, for batches, the record ``index``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_PREFIX = "urn:outcome-ttp:problem:"
log = logging.getLogger("ttp.http")

_TITLES = {
    400: "Invalid input",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}
_TYPES = {
    400: "invalid-input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
    500: "internal-error",
    503: "unavailable",
}


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
        kind: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.kind = kind or _TYPES.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.errors = errors
        self.headers = headers or {}


def problem_type(kind: str) -> str:
    return _PREFIX + kind


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(problem.kind),
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.errors is not None:
        body["errors"] = problem.errors
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
        detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {request.url.path}"
        if exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return problem_response(
            Problem(exc.status_code, detail, headers=dict(exc.headers or {})), request.url.path
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"error_type": type(exc).__name__, "path": request.url.path})
        return problem_response(
            Problem(500, "an unexpected error occurred; nothing was changed. The request id is in the logs."),
            request.url.path,
        )


#: OpenAPI ``responses`` entry for the common problem answers.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": ProblemDocument,
            "description": _TITLES.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}},
        }
        for status in statuses
    }
