"""The latest release of every family, kept in this process and refreshed in the background.

Releases are cached per family. When the store has changed since (its generation moved on), a
new release is prepared in the background while requests keep getting the last one, each
report saying when its snapshot was taken (``as_of``). Only a family never released before makes
a request wait, and past ``wait_seconds`` that request gets 503 with ``Retry-After``: nothing is
ever shown unprotected. So every report of a family is cut from one and the same pattern, the
same question always gets the same answer, and a repeated request costs a dictionary lookup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app import aggregate_store
from app.privacy.configuration import PrivacyConfiguration
from app.records.codelists import CodeLists
from app.reports.families import Family
from app.reports.family_protection import Release, protect_family
from app.reports.registry import Registry


class ReportPreparing(Exception):
    """The family is being protected in the background; ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the report is being prepared; retry after {retry_after} s")
        self.retry_after = retry_after


class ReleaseCache:
    """Protects families in the background and keeps their latest release."""

    def __init__(self, registry: Registry, configuration: PrivacyConfiguration, codelists: CodeLists,
                 cache_size: int = 256, sessions: sessionmaker[Session] | None = None,
                 wait_seconds: float = 20.0, retry_after: int = 60, stale_wait_seconds: float = 0.5) -> None:
        self.registry = registry
        self.configuration = configuration
        self.codelists = codelists
        self._released: OrderedDict[tuple[Any, ...], Release] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._sessions = sessions
        self._pending: dict[tuple[Any, ...], Future[Release]] = {}
        # One worker: protection is CPU-bound, and one family at a time keeps the service responsive.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-protection")
        self.wait_seconds = wait_seconds
        self.stale_wait_seconds = stale_wait_seconds
        self.retry_after = retry_after

    def release(self, session: Session, family: Family, year: int, framework: str) -> Release:
        """The latest release of a family for a year and framework.

        Current: returned at once. Older than the store: a new one is prepared in the background
        and the older one is returned unless the new one is ready within ``stale_wait_seconds``.
        None yet: wait up to ``wait_seconds``, then :class:`ReportPreparing`.
        """
        current = aggregate_store.generation(session)
        # End the read transaction: on SQLite every transaction holds the write lock, and
        # protecting (or waiting for) a family must never block ingestion.
        session.rollback()
        key = (family.key, year, framework)
        with self._lock:
            latest = self._released.get(key)
            if latest is not None:
                self._released.move_to_end(key)
                if latest.generation >= current:
                    return latest
            future = None
            if self._sessions is not None:
                future = self._pending.get(key)
                if future is None:
                    future = self._executor.submit(self._compute, key, family, year, framework)
                    self._pending[key] = future
        if future is None:
            return self._store(key, self._protect(session, family, year, framework))
        try:
            return future.result(timeout=self.wait_seconds if latest is None else self.stale_wait_seconds)
        except FutureTimeout:
            if latest is not None:
                return latest  # protected from an earlier snapshot; its as_of says which
            raise ReportPreparing(self.retry_after) from None

    def _protect(self, session: Session, family: Family, year: int, framework: str) -> Release:
        return protect_family(session, family, year, framework, registry=self.registry,
                              configuration=self.configuration)

    def _compute(self, key: tuple[Any, ...], family: Family, year: int, framework: str) -> Release:
        assert self._sessions is not None
        try:
            with self._sessions() as session:
                result = self._protect(session, family, year, framework)
            return self._store(key, result)
        finally:
            with self._lock:
                self._pending.pop(key, None)

    def _store(self, key: tuple[Any, ...], result: Release) -> Release:
        with self._lock:
            latest = self._released.get(key)
            if latest is not None and latest.generation > result.generation:
                return latest
            self._released[key] = result
            self._released.move_to_end(key)
            while len(self._released) > self._cache_size:
                self._released.popitem(last=False)
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
