"""The request middleware: request id, limits, security headers, metrics, logs and audit.

A plain ASGI middleware (no BaseHTTPMiddleware) so that streaming bodies and background
threads behave, and so that it costs little per request.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit.context import AuditContext
from app.problems import PROBLEM_JSON, Problem, problem_body
from app.settings import API_VERSION
from app.web import is_page

if TYPE_CHECKING:
    from app.runtime import Runtime

log = logging.getLogger("ttp.http")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TOKEN_PARAMS = {"access_token", "token", "id_token", "client_secret"}

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"api-version", API_VERSION.encode()),
]
HTML_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class BodyTooLarge(Exception):
    pass


def _is_audited(path: str) -> bool:
    """API requests and page views (login, logout, every page that shows data) are audit entries."""
    return (path.startswith("/v1/") and path != "/v1/openapi.json") or is_page(path)


#: Requests that may wait for their turn in one process; past that, a 503 with Retry-After at once.
MAX_WAITING = 2000


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        from app import db

        self.app = app
        self.runtime = runtime
        # Admission: API requests and pages are worked on a bounded number at a time (the pool's
        # connections); the rest wait here, in order, without a deadline (see db.requests_at_once).
        self._admission = anyio.CapacityLimiter(db.requests_at_once(runtime.engine))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        path: str = scope["path"]
        client = scope.get("client")
        context = AuditContext(
            request_id=request_id,
            source=client[0] if client else None,
            method=scope["method"],
            path=path,
        )
        scope.setdefault("state", {})["audit"] = context
        status_holder: dict[str, Any] = {"status": 500, "started": False}
        runtime = self.runtime

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message["status"])
                status_holder["status"] = status
                status_holder["started"] = True
                if _is_audited(path) and not context.written:
                    await anyio.to_thread.run_sync(self._write_audit, context, status)
                raw = list(message.get("headers", []))
                raw.extend(SECURITY_HEADERS)
                raw.append((b"x-request-id", request_id.encode()))
                content_type = dict(raw).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    raw.append((b"content-security-policy", HTML_CSP))
                message = {**message, "headers": raw}
            await send(message)

        problem = self._early_problem(scope, headers)
        try:
            if problem is not None:
                await self._send_problem(send_wrapper, path, *problem)
            else:
                limited = self._limited_receive(receive, runtime.settings.max_body_bytes, scope["state"])
                try:
                    if not _is_audited(path):  # probes, metrics, static files: never queued
                        await self.app(scope, limited, send_wrapper)
                    elif self._admission.statistics().tasks_waiting >= MAX_WAITING:
                        await self._send_problem(send_wrapper, path, 503, "the service is busy; nothing was changed. "
                                                 "Send the request again after Retry-After.", {"Retry-After": "5"})
                    else:
                        async with self._admission:
                            await self.app(scope, limited, send_wrapper)
                except BodyTooLarge:
                    if status_holder["started"]:
                        raise
                    await self._send_problem(send_wrapper, path, 413, self._too_large_detail())
        finally:
            self._observe(scope, status_holder["status"], started, context)

    # ---- pieces ---------------------------------------------------------------------------------
    def _too_large_detail(self) -> str:
        return f"the request body is larger than {self.runtime.settings.max_body_bytes} bytes; send smaller batches"

    def _early_problem(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        query = scope.get("query_string", b"").decode("latin-1")
        if query and any(name.lower() in _TOKEN_PARAMS for name, _ in parse_qsl(query, keep_blank_values=True)):
            return 401, "tokens and secrets are accepted only in the Authorization header, never in the URL"
        length = headers.get("content-length")
        if length is not None:
            try:
                if int(length) > self.runtime.settings.max_body_bytes:
                    return 413, self._too_large_detail()
            except ValueError:
                return 400, "the Content-Length header is not a number"
        return None

    @staticmethod
    def _limited_receive(receive: Receive, limit: int, state: dict[str, Any]) -> Receive:
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI turns errors while reading the body into a 400; the flag lets the
                    # problem handler answer 413 instead.
                    state["body_too_large"] = limit
                    raise BodyTooLarge
            return message

        return wrapped

    @staticmethod
    async def _send_problem(send: Send, path: str, status: int, detail: str,
                            extra: dict[str, str] | None = None) -> None:
        body = json.dumps(problem_body(Problem(status, detail), path)).encode()
        headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="outcome-ttp"'))
        headers.extend((k.lower().encode(), v.encode()) for k, v in (extra or {}).items())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _write_audit(self, context: AuditContext, status: int) -> None:
        # Committed before the response starts; in a group with the other requests waiting.
        self.runtime.audit_writer.write(context.event(status))
        context.written = True

    def _observe(self, scope: Scope, status: int, started: float, context: AuditContext) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        elapsed = time.perf_counter() - started
        metrics = self.runtime.metrics
        metrics.requests.labels(template, scope["method"], str(status)).inc()
        metrics.latency.labels(template, scope["method"]).observe(elapsed)
        log.info(
            "request",
            extra={
                "request_id": context.request_id,
                "method": scope["method"],
                "route": template,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client_id": context.client_id,
                "action": context.action,
            },
        )
