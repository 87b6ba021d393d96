"""Group commit of request audit entries: every entry committed before its request is answered,
many waiting entries in one transaction, the log still dense and verifiable."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from app.audit import log as audit_log
from app.audit.writer import AuditWriter
from tests.test_audit_log import entries


def test_entries_waiting_together_are_committed_in_one_transaction(app) -> None:  # type: ignore[no-untyped-def]
    runtime = app.state.runtime
    commits: list[int] = []
    event.listen(runtime.engine, "commit", lambda _conn: commits.append(1))
    groups: list[int] = []  # per entry: how many commits had happened when it was written
    writer = AuditWriter(runtime.sessions, on_written=lambda _event: groups.append(len(commits)))
    before = len(entries(app))
    blocker = runtime.sessions()
    try:
        # Hold the audit lock's equivalent: a writer transaction that has appended an entry, so
        # the writer thread's first group must wait, and every later write queues behind it.
        audit_log.append(blocker, audit_log.AuditEvent(action="test.blocker", result="success"))
        ready = threading.Barrier(21)

        def one(i: int) -> None:
            ready.wait()
            writer.write(audit_log.AuditEvent(action="test.group", result="success", resource=str(i)))

        with ThreadPoolExecutor(max_workers=20) as pool:
            futures = [pool.submit(one, i) for i in range(20)]
            ready.wait()
            while writer.pending() < 20:  # readiness: all twenty have handed over their entry
                threading.Event().wait(0.01)
            blocker.commit()
            for future in futures:
                future.result()  # each write returned: its entry is committed
    finally:
        blocker.close()
        writer.close()
    logged = entries(app)
    assert len(logged) == before + 21
    assert sorted(int(e.resource) for e in logged if e.action == "test.group") == list(range(20))
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))  # dense, in order
    # The first group waited for the lock with what had arrived; the rest came in one (or two,
    # if a thread had counted itself but not yet queued its entry when the lock was let go).
    assert len(set(groups)) <= 3, groups
