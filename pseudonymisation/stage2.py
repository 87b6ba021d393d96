"""Stage 2 (TTP side): stage-1 pre-pseudonym -> stored pseudonym.

The TTP receives stage-1 values (see :mod:`pseudonymisation.stage1`) and stores only::

    "p2." + key_id + "." + base64url_nopad(HMAC-SHA256(ttp_key, b"outcome-ttp/stage2/" + stage1))

where ``stage1`` is the complete received value, ``p1.<provider key id>.<digest>``.  The TTP
key never leaves the TTP, so neither the providers (who know the stage-1 key) nor anyone
holding the stored data alone can link a stored pseudonym to a BSN.

Key replacement: the provider key id is part of the hashed input, so after the providers
replace their key the same person yields a *different* stage-2 value, as does a new TTP key.
Linking records across key versions therefore needs a migration (old -> new pseudonym) table
built while both keys are available; that is out of scope here.

Input that looks like a BSN is refused with an explicit reason, so a provider that sends BSNs
by mistake learns why; no reason ever echoes the value.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from .bsn import looks_like_bsn
from .keys import KEY_ID_PATTERN, PseudonymKey, b64url_encode

__all__ = [
    "LOOKS_LIKE_BSN_REASON",
    "NOT_STAGE1_REASON",
    "STAGE2_CONTEXT",
    "InvalidPseudonym",
    "parse_stage1",
    "stage2",
]

STAGE2_CONTEXT = b"outcome-ttp/stage2/"
LOOKS_LIKE_BSN_REASON = (
    "looks like a BSN; send the stage-1 pseudonym made by `ttp pseudonymise`, never the BSN"
)
NOT_STAGE1_REASON = "not a stage-1 pseudonym: expected p1.<key id>.<43 base64url characters>"
_STAGE2_GIVEN_REASON = "a stage-2 pseudonym, not a stage-1 one: send the value made by `ttp pseudonymise`"
_STAGE1_RE = re.compile(rf"p1\.({KEY_ID_PATTERN})\.([A-Za-z0-9_-]{{43}})")
#: The base64url characters whose value is a multiple of 4 (the last of 43 for 32 bytes).
_CANONICAL_LAST = frozenset("AEIMQUYcgkosw048")


class InvalidPseudonym(ValueError):  # name fixed by the integration API
    """A value is not an acceptable stage-1 pseudonym; ``reason`` never echoes the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_stage1(value: str) -> tuple[str, str]:
    """Split a stage-1 pseudonym into ``(key_id, digest)``; raises :class:`InvalidPseudonym`.

    The digest must be the canonical unpadded base64url form of 32 bytes (43 characters).
    """
    if not isinstance(value, str):
        raise InvalidPseudonym("not a string")
    if looks_like_bsn(value):
        raise InvalidPseudonym(LOOKS_LIKE_BSN_REASON)
    match = _STAGE1_RE.fullmatch(value)
    if match is None:
        if value.startswith("p2."):
            raise InvalidPseudonym(_STAGE2_GIVEN_REASON)
        raise InvalidPseudonym(NOT_STAGE1_REASON)
    key_id, digest = match.groups()
    # 43 base64url characters carry 258 bits for 32 bytes: canonical when the last one's two
    # spare bits are zero (what decoding and encoding again checks, without doing either).
    if digest[-1] not in _CANONICAL_LAST:
        raise InvalidPseudonym(NOT_STAGE1_REASON + " (digest is not canonical base64url)")
    return key_id, digest


def stage2(stage1_value: str, key: PseudonymKey) -> str:
    """The stored (stage-2) pseudonym for a stage-1 value, under the TTP key ``key``."""
    parse_stage1(stage1_value)
    digest = hmac.new(key.secret, STAGE2_CONTEXT + stage1_value.encode("ascii"), hashlib.sha256).digest()
    return f"p2.{key.key_id}.{b64url_encode(digest)}"
