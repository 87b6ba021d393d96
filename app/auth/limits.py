"""Per-process limits on one machine client (OWASP API4): request rates and concurrent reports.

Counted in memory, per API process: with N processes (workers, pods) a client may reach N times
each limit. That is the documented, effective limit (README "Limits"); it keeps the hot path free
of a database write per request. What must hold across processes, the lockout after failed client
authentications, is kept in the database instead (:mod:`app.auth.lockout`).

A rate is a token bucket per client: ``per_minute`` requests at once, refilled evenly over a
minute. Beyond it the answer is 429 with ``Retry-After`` (whole seconds until a request fits).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from app.privacy.configuration import Limits as LimitsConfiguration
from app.problems import RATE_LIMITED, Problem

#: At most this many client ids are remembered per bucket kind (the least recently seen go first),
#: so that a flood of made-up client ids cannot grow the process.
MAX_KEYS = 50_000


class RateLimiter:
    """A token bucket per key, ``per_minute`` deep, refilled at ``per_minute`` a minute."""

    def __init__(self, per_minute: int, max_keys: int = MAX_KEYS) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._max_keys = max_keys
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> int | None:
        """Count one request for ``key``: None when it may go on, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
            return wait


class ConcurrencyCap:
    """At most ``limit`` requests at once per key."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    def try_enter(self, key: str) -> bool:
        with self._lock:
            running = self._running.get(key, 0)
            if running >= self.limit:
                return False
            self._running[key] = running + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            running = self._running.get(key, 0) - 1
            if running > 0:
                self._running[key] = running
            else:
                self._running.pop(key, None)

    def running(self, key: str) -> int:
        with self._lock:
            return self._running.get(key, 0)


@dataclass
class ClientLimits:
    """The limits of one API process, made from the ``[limits]`` section of the configuration."""

    configuration: LimitsConfiguration
    tokens: RateLimiter = field(init=False)
    writes: RateLimiter = field(init=False)
    reports: ConcurrencyCap = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = RateLimiter(self.configuration.token_requests_per_minute)
        self.writes = RateLimiter(self.configuration.write_requests_per_minute)
        self.reports = ConcurrencyCap(self.configuration.concurrent_reports)

    def check_token_request(self, client_id: str) -> None:
        wait = self.tokens.take(client_id)
        if wait is not None:
            raise _too_many(wait, f"more than {self.configuration.token_requests_per_minute} token requests a "
                                  "minute for this client; a token lasts its expires_in: reuse it")

    def check_write(self, client_id: str) -> None:
        wait = self.writes.take(client_id)
        if wait is not None:
            raise _too_many(wait, f"more than {self.configuration.write_requests_per_minute} writes a minute "
                                  "for this client; send larger batches or wait")

    @contextmanager
    def report_slot(self, client_id: str) -> Iterator[None]:
        if not self.reports.try_enter(client_id):
            raise _too_many(1, f"this client already has {self.configuration.concurrent_reports} report requests "
                               "running; wait for one to finish")
        try:
            yield
        finally:
            self.reports.leave(client_id)


def _too_many(seconds: int, detail: str) -> Problem:
    return Problem(429, f"{detail} (retry after {seconds} s)", kind=RATE_LIMITED,
                   headers={"Retry-After": str(seconds)})
