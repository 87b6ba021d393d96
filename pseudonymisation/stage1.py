"""Stage 1 (provider side): BSN -> pre-pseudonym.

The scheme has two steps, as Dutch health TTPs have used since 2007: the source makes a
*pre-pseudonym* so that the BSN never leaves the provider, and the TTP turns it into the
*final* pseudonym with a key only it holds (see :mod:`pseudonymisation.stage2`).

Stage 1 is a keyed hash with the provider key shared by all providers of a scheme, so the
same person gets the same stage-1 value at every provider::

    "p1." + key_id + "." + base64url_nopad(HMAC-SHA256(key, b"outcome-ttp/stage1/" + BSN))

``p1`` labels the scheme version and ``key_id`` the provider key version; the
``outcome-ttp/stage1/`` prefix separates this use of HMAC from any other.  Without the key,
the 10^9 possible BSNs cannot be enumerated to reverse a pseudonym.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator

from .bsn import InvalidBSN, validate_bsn
from .keys import PseudonymKey, b64url_encode

__all__ = ["STAGE1_CONTEXT", "InvalidBSNLine", "pseudonymise_bsn", "pseudonymise_lines"]

STAGE1_CONTEXT = b"outcome-ttp/stage1/"


class InvalidBSNLine(InvalidBSN):
    """A line of BSN input is not a valid BSN.

    ``line_number`` is 1-based; the message reads like ``"line 3: not 9 digits (has 8)"``
    and never contains the line's content.
    """

    def __init__(self, line_number: int, reason: str) -> None:
        ValueError.__init__(self, f"line {line_number}: {reason}")
        self.reason = reason
        self.line_number = line_number


def pseudonymise_bsn(bsn: str, key: PseudonymKey) -> str:
    """The stage-1 pseudonym of ``bsn``; raises :class:`InvalidBSN` for an invalid BSN.

    Surrounding whitespace is ignored (see :func:`validate_bsn`).
    """
    normalised = validate_bsn(bsn)
    digest = hmac.new(key.secret, STAGE1_CONTEXT + normalised.encode("ascii"), hashlib.sha256).digest()
    return f"p1.{key.key_id}.{b64url_encode(digest)}"


def pseudonymise_lines(lines: Iterable[str], key: PseudonymKey) -> Iterator[str]:
    """Stage-1 pseudonyms for one BSN per line, in order (for ``ttp pseudonymise``).

    Line endings and surrounding whitespace are ignored.  A blank line is an error, except a
    final empty string left by a trailing newline (as ``text.split("\\n")`` produces).  Raises
    :class:`InvalidBSNLine` at the first bad line.  The iterator is lazy: earlier pseudonyms
    have been produced by then, so a caller wanting all-or-nothing output collects it first.
    """
    pending_empty: int | None = None
    for number, line in enumerate(lines, start=1):
        if pending_empty is not None:
            raise InvalidBSNLine(pending_empty, "empty line")
        if line == "":
            pending_empty = number
            continue
        try:
            yield pseudonymise_bsn(line, key)
        except InvalidBSN as exc:
            raise InvalidBSNLine(number, exc.reason) from None
