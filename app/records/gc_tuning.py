"""The garbage collector while the service runs: the start-up heap frozen, fewer young collections.

A record batch allocates tens of thousands of container objects (validated records, cells,
rows). With CPython's defaults (a young collection every 700 allocations, and full collections
that walk every object of the process, the whole application included) the collector took
about half of ingestion's CPU time (issue 14, "Ingest speed": 1.7 of 3.5 s for 10,000 records
in process). What is alive once the service has started (modules, the app, code lists, keys)
stays alive for the process's life, so :func:`tuned` moves it out of the collector's sight
(``gc.freeze()``) and raises the first threshold; cycles are still collected as before, only less
often, and reference counting frees everything else at once as always.

Used by the application's lifespan (``app.main``), so every API process (``ttp serve``, each of
``--workers N``) runs with it; on leaving, the frozen objects are handed back to the collector and
the thresholds restored (tests start and stop many apps in one process).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Allocations between young collections while serving (CPython's default is 700).
YOUNG_THRESHOLD = 10_000

_lock = threading.Lock()
_depth = 0
_previous: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def tuned() -> Iterator[None]:
    """Freeze the heap as it is now (its young generations collected first) and raise the first threshold; undo when the
    last of the apps running in this process (tests run several) leaves."""
    global _depth, _previous
    with _lock:
        if _depth == 0:
            _previous = gc.get_threshold()
            # The young generations only: a full collection walks every object of the process
            # (0.1 to 1 s in a test process, at every app start); what little garbage the older
            # generations hold at start is frozen with the rest, and handed back on leaving.
            gc.collect(1)
            gc.freeze()
            gc.set_threshold(YOUNG_THRESHOLD, _previous[1], _previous[2])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_previous)
                gc.unfreeze()
