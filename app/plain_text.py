"""Plain text: what a text field may hold before it is stored, hashed or shown.

No control characters (a NUL cannot be stored in PostgreSQL, and SQLite would store it: the two
databases must agree) and no lone surrogates (not Unicode: they cannot be encoded as UTF-8, so
they could be neither hashed nor stored). Every free-text input of the API is checked against it
and refused with a 400 that names the field.
"""

from __future__ import annotations

import re

#: The JSON Schema ``pattern`` of a plain text (ECMA-262, Python and Rust regex alike): no C0
#: control character and no DEL. Lone surrogates are refused too (JSON Schema cannot say so).
PATTERN = r"^[^\x00-\x1f\x7f]*$"
_NOT_PLAIN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")

CONTROL_REASON = "must not hold control characters (such as NUL, a tab or a line break)"
UNICODE_REASON = "must be valid Unicode text (it holds a lone surrogate)"


def why_not(value: str) -> str | None:
    """Why ``value`` is not plain text (a reason that does not repeat it), or None when it is."""
    found = _NOT_PLAIN.search(value)
    if found is None:
        return None
    return UNICODE_REASON if "\ud800" <= found.group() <= "\udfff" else CONTROL_REASON
