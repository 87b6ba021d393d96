"""Group commit for the audit entries of requests: one transaction for every entry waiting.

Every API request and page view is an audit entry, written before its response leaves (an access
nobody logged never reaches the caller). Written one transaction each, 200 report readers meant
200 waits for the database's write lock (on SQLite, behind each ingestion batch) and 200 syncs to
disk. Here one thread per process takes whatever entries are waiting, appends them in order in
one transaction and commits once; each request still waits until its own entry is committed, so
the guarantee is unchanged, and a burst costs one lock wait and one sync.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from app.audit import log as audit_log

#: At most this many entries in one transaction (a long queue is drained in several).
MAX_GROUP = 500


@dataclass
class _Pending:
    event: audit_log.AuditEvent
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class AuditWriter:
    """``write`` blocks until the event is committed (or raises the commit's error)."""

    def __init__(self, sessions: sessionmaker[Session],
                 on_written: Callable[[audit_log.AuditEvent], None] | None = None) -> None:
        self._sessions = sessions
        self._on_written = on_written
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._pending = 0

    def pending(self) -> int:
        """Entries handed to ``write`` and not yet committed (or failed)."""
        with self._start_lock:
            return self._pending

    def write(self, event: audit_log.AuditEvent) -> None:
        pending = _Pending(event)
        self._ensure_started()
        with self._start_lock:
            self._pending += 1
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error

    def close(self) -> None:
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        # Started on first use, in the process that writes (uvicorn's workers are forked after import).
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[_Pending]) -> None:
        session = self._sessions()
        try:
            for pending in group:
                audit_log.append(session, pending.event)
            session.commit()
        except BaseException as exc:  # every waiter must hear of it, whatever it is
            session.rollback()
            for pending in group:
                pending.error = exc
        finally:
            session.close()
            with self._start_lock:
                self._pending -= len(group)
            for pending in group:
                if pending.error is None and self._on_written is not None:
                    self._on_written(pending.event)
                pending.done.set()
