"""The log scan (issue 15): no test's captured output holds a pseudonym, a secret or its hash.

A pytest hook, registered by ``tests/conftest.py``: after each phase of each test it scans what
pytest captured (stdout, stderr, log records) and fails the test when it finds a stage-1 or
stage-2 pseudonym, a scrypt hash, an access token or a database statement's values. The test's
own deliberate reads (``capsys.readouterr()``) are not scanned: they are the test's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

#: What must never appear in any output, by name (the name is reported, never the match).
LEAKS = {
    "a stage-1 pseudonym": re.compile(r"p1\.v\d+\.[A-Za-z0-9_-]{43}"),
    "a stage-2 pseudonym": re.compile(r"p2\.v\d+\.[A-Za-z0-9_-]{20,}"),
    "a scrypt secret hash": re.compile(r"scrypt\$\d+\$\d+\$\d+\$"),
    "an access token (JWT)": re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    "a database statement's values": re.compile(r"\[parameters: "),
}


def leaks_in(text: str) -> list[str]:
    """The names of the leaks found in ``text``."""
    return [name for name, pattern in LEAKS.items() if pattern.search(text)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    found = sorted({(title, name) for title, text in report.sections for name in leaks_in(text)})
    if found and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = "the captured output holds " + "; ".join(f"{name} ({title})" for title, name in found)
