"""Structured JSON logs and Prometheus metrics.

Logs carry the request id, route template, status and timings; never pseudonyms, tokens,
secrets, query strings or record contents. Only an allow-list of ``extra`` fields is written.

Every logger's output goes through :class:`JsonFormatter` (:func:`configure_logging` puts it on
the root logger and takes uvicorn's own handlers away), and a traceback is never written: an
exception becomes its type (``error_type``) only, because a database error's text carries the
statement's values (SQLAlchemy's ``[parameters: ...]``: pseudonyms, ages, secret hashes).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

#: The only ``extra`` fields a log line may carry.
ALLOWED_LOG_FIELDS = (
    "request_id", "method", "route", "status", "duration_ms", "client_id", "org_type", "action",
    "result", "error_type", "path", "count", "config_sha256", "key_id",
    # disclosure control: which family, and figures about the pattern (never a cell's counts)
    "family", "year", "framework", "indicator", "disclosure",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ALLOWED_LOG_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info and record.exc_info[0] is not None and "error_type" not in doc:
            doc["error_type"] = record.exc_info[0].__name__  # the type only: never the text or traceback
        return json.dumps(doc, ensure_ascii=False, default=str)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return ""  # never a traceback, whoever asks

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return ""


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and servers replace it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


#: Loggers that install plain-text handlers of their own (uvicorn's traceback of an unhandled
#: error, its access log with query strings); their output is sent to the root logger instead.
_FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's own loggers (``ttp.*``, at ``level``) and for every
    other logger (at the root logger's level, WARNING by default), uvicorn's included."""
    own = logging.getLogger("ttp")
    if not any(isinstance(h.formatter, JsonFormatter) for h in own.handlers):
        own.addHandler(_StderrHandler())
    own.setLevel(level.upper())
    own.propagate = False
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.addHandler(_StderrHandler())
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler:  # e.g. a logging.basicConfig() made earlier
            handler.setFormatter(JsonFormatter())
    for name in _FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers = []
        foreign.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the request line carries the query string


#: How long an idle keep-alive connection stays open. Longer than any client or proxy in front
#: keeps one idle (httpx 5 s, ingress-nginx's upstream keep-alive 60 s): the side that closes an
#: idle connection must be the side that would reuse it. At uvicorn's default of 5 s, equal to
#: httpx's, a client that sent its next request just as the server closed the connection got
#: "Connection reset by peer" (seen once under load in CI, an upload lost in transit).
KEEP_ALIVE_SECONDS = 75

#: What ``ttp serve`` passes to ``uvicorn.run``: no logging configuration of uvicorn's own (its
#: plain-text handlers would print tracebacks), no access log (query strings); ours logs requests.
UVICORN_OPTIONS: dict[str, Any] = {"log_config": None, "access_log": False, "timeout_keep_alive": KEEP_ALIVE_SECONDS}


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ttp_http_requests_total", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "ttp_http_request_duration_seconds", "HTTP request duration by route template",
            ["route", "method"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.audit_entries = Counter(
            "ttp_audit_entries_total", "Audit entries written, by result", ["result"], registry=self.registry
        )
