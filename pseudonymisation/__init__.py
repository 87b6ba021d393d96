"""Two-step pseudonymisation of BSNs, as Dutch health TTPs use it.

1. At the source (provider), :func:`pseudonymise_bsn` turns a BSN into a *stage-1*
   pre-pseudonym ``p1.<key id>.<digest>`` with the provider key shared in the scheme, so the
   BSN never leaves the provider.
2. At the TTP, :func:`stage2` turns the stage-1 value into the stored *stage-2* pseudonym
   ``p2.<key id>.<digest>`` with a key only the TTP holds.

Pure library: no I/O besides key files, no logging, no printing, and nothing returns a BSN
(except :func:`validate_bsn`, which normalises one on the provider side).
"""

from .bsn import InvalidBSN, is_valid_bsn, looks_like_bsn, validate_bsn
from .keys import (
    KEY_BYTES,
    KEY_SCHEME,
    KeyFileError,
    PseudonymKey,
    generate_key,
    key_from_text,
    key_to_text,
    load_key_file,
    write_key_file,
)
from .stage1 import InvalidBSNLine, pseudonymise_bsn, pseudonymise_lines
from .stage2 import LOOKS_LIKE_BSN_REASON, NOT_STAGE1_REASON, InvalidPseudonym, parse_stage1, stage2

__all__ = [
    "KEY_BYTES",
    "KEY_SCHEME",
    "LOOKS_LIKE_BSN_REASON",
    "NOT_STAGE1_REASON",
    "InvalidBSN",
    "InvalidBSNLine",
    "InvalidPseudonym",
    "KeyFileError",
    "PseudonymKey",
    "generate_key",
    "is_valid_bsn",
    "key_from_text",
    "key_to_text",
    "load_key_file",
    "looks_like_bsn",
    "parse_stage1",
    "pseudonymise_bsn",
    "pseudonymise_lines",
    "stage2",
    "validate_bsn",
    "write_key_file",
]
