"""Structured JSON logs and Prometheus metrics.

Logs carry the request id, route template, status and timings; never pseudonyms, tokens,
secrets, query strings or record contents. Only an allow-list of ``extra`` fields is written.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

#: The only ``extra`` fields a log line may carry.
_ALLOWED_EXTRA = (
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
        for name in _ALLOWED_EXTRA:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger("ttp")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False


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
