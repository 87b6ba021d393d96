"""The checkpoint format: signed tree heads ("checkpoints") of the audit log, and how they are
signed, verified and written as JSON.

Pure module: stdlib + ``cryptography`` only. Making, storing and scheduling checkpoints is
``app.audit.checkpoint_store``.

Signed payload
--------------
A checkpoint signs the following UTF-8 (in fact ASCII) text, in the style of a C2SP
signed-note checkpoint body: five lines, each terminated by a single ``\\n``::

    outcome-ttp audit log
    <size>
    <root hash, standard base64 with padding>
    <timestamp, UTC, YYYY-MM-DDTHH:MM:SSZ>
    <key id>

* ``size`` is the decimal tree size without sign or leading zeros (``0`` for the empty tree).
* the root hash is exactly 32 bytes (SHA-256, RFC 9162 MTH), so its base64 form is 44 characters.
* the timestamp has whole-second precision and is always rendered in UTC with a ``Z`` suffix;
  ``sign_checkpoint`` truncates sub-second precision, and a checkpoint whose timestamp has
  microseconds does not verify (so the payload is injective).
* the key id is 1..64 printable, non-space ASCII characters (``key_id_for`` gives 16 hex digits).

Every field has a fixed syntax that cannot contain a newline, so the encoding is unambiguous.
The signature is Ed25519 over these bytes.

JSON form (what ``GET /v1/audit/checkpoint`` returns and a privacy officer keeps in a file for
``ttp audit verify --checkpoint FILE``)::

    {"size": 12, "root_hash": "<64 lowercase hex>", "timestamp": "2024-05-01T12:00:00Z",
     "key_id": "<key id>", "signature": "<standard base64 of 64 bytes>"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ORIGIN",
    "Checkpoint",
    "from_json",
    "key_id_for",
    "sign_checkpoint",
    "signed_payload",
    "to_json",
    "verify_checkpoint",
]

ORIGIN = "outcome-ttp audit log"
_HASH_SIZE = 32
_SIGNATURE_SIZE = 64
_KEY_ID_RE = re.compile(r"[!-~]{1,64}")
_HEX_HASH_RE = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log had ``size`` entries with Merkle root ``root_hash``."""

    size: int
    root_hash: bytes
    timestamp: datetime  # timezone-aware, UTC, whole seconds
    key_id: str
    signature: bytes


def _check_size(size: object) -> int:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"size must be a non-negative integer, got {size!r}")
    return size


def _check_root(root_hash: object) -> bytes:
    if not isinstance(root_hash, bytes | bytearray) or len(root_hash) != _HASH_SIZE:
        raise ValueError(f"root hash must be {_HASH_SIZE} bytes")
    return bytes(root_hash)


def _check_key_id(key_id: object) -> str:
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise ValueError("key id must be 1..64 printable non-space ASCII characters")
    return key_id


def _format_timestamp(timestamp: object) -> str:
    if not isinstance(timestamp, datetime):
        raise ValueError("timestamp must be a datetime")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware")
    utc = timestamp.astimezone(UTC)
    if utc.microsecond:
        raise ValueError("timestamp must have whole-second precision")
    return utc.strftime(_TIMESTAMP_FORMAT)


def signed_payload(size: int, root_hash: bytes, timestamp: datetime, key_id: str) -> bytes:
    """The exact bytes that are signed (see the module docstring). Raises ValueError on bad fields."""
    lines = [
        ORIGIN,
        str(_check_size(size)),
        base64.b64encode(_check_root(root_hash)).decode("ascii"),
        _format_timestamp(timestamp),
        _check_key_id(key_id),
    ]
    return ("\n".join(lines) + "\n").encode("ascii")


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """First 8 bytes (16 hex digits) of SHA-256 over the raw 32-byte public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def sign_checkpoint(
    size: int,
    root_hash: bytes,
    private_key: Ed25519PrivateKey,
    key_id: str,
    timestamp: datetime | None = None,
) -> Checkpoint:
    """Sign a tree head. ``timestamp`` defaults to now; it must be timezone-aware and is
    normalised to UTC and truncated to whole seconds (the stored value is the signed value)."""
    if timestamp is None:
        timestamp = datetime.now(UTC)
    if not isinstance(timestamp, datetime) or timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("timestamp must be a timezone-aware datetime")
    ts = timestamp.astimezone(UTC).replace(microsecond=0)
    payload = signed_payload(size, root_hash, ts, key_id)
    return Checkpoint(
        size=size,
        root_hash=bytes(root_hash),
        timestamp=ts,
        key_id=key_id,
        signature=private_key.sign(payload),
    )


def verify_checkpoint(cp: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True iff ``cp.signature`` is a valid Ed25519 signature by ``public_key`` over the payload.

    Never raises: malformed checkpoints or keys give False. It does not check that ``cp.key_id``
    matches ``key_id_for(public_key)``; callers that select keys by id do that themselves.
    """
    if not isinstance(cp, Checkpoint) or not isinstance(public_key, Ed25519PublicKey):
        return False
    if not isinstance(cp.signature, bytes | bytearray) or len(cp.signature) != _SIGNATURE_SIZE:
        return False
    try:
        payload = signed_payload(cp.size, cp.root_hash, cp.timestamp, cp.key_id)
        public_key.verify(bytes(cp.signature), payload)
    except (InvalidSignature, ValueError, TypeError, OverflowError):
        return False
    return True


def to_json(cp: Checkpoint) -> dict[str, Any]:
    """JSON-ready dict: size, root_hash (hex), timestamp (ISO 8601, Z), key_id, signature (base64)."""
    return {
        "size": cp.size,
        "root_hash": cp.root_hash.hex(),
        "timestamp": _format_timestamp(cp.timestamp),
        "key_id": cp.key_id,
        "signature": base64.b64encode(cp.signature).decode("ascii"),
    }


def _field(d: dict[str, Any], name: str, kind: type) -> Any:
    if name not in d:
        raise ValueError(f"checkpoint: missing field {name!r}")
    value = d[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"checkpoint: field {name!r} must be a {kind.__name__}")
    return value


def from_json(d: object) -> Checkpoint:
    """Parse the ``to_json`` form. Raises ValueError (with the offending field) on malformed input.

    Unknown extra keys are ignored (they are not covered by the signature anyway). The signature
    itself is not checked here; use ``verify_checkpoint``.
    """
    if not isinstance(d, dict):
        raise ValueError("checkpoint: expected a JSON object")
    size = _field(d, "size", int)
    if size < 0:
        raise ValueError("checkpoint: field 'size' must be non-negative")

    root_hex = _field(d, "root_hash", str)
    if not _HEX_HASH_RE.fullmatch(root_hex):
        raise ValueError("checkpoint: field 'root_hash' must be 64 hex digits")
    root_hash = bytes.fromhex(root_hex)

    ts_text = _field(d, "timestamp", str)
    try:
        timestamp = datetime.fromisoformat(ts_text)
    except ValueError:
        raise ValueError("checkpoint: field 'timestamp' is not an ISO 8601 date-time") from None
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("checkpoint: field 'timestamp' must carry a UTC offset (e.g. 'Z')")
    timestamp = timestamp.astimezone(UTC)
    if timestamp.microsecond:
        raise ValueError("checkpoint: field 'timestamp' must have whole-second precision")

    key_id = _field(d, "key_id", str)
    if not _KEY_ID_RE.fullmatch(key_id):
        raise ValueError("checkpoint: field 'key_id' must be 1..64 printable non-space ASCII characters")

    sig_text = _field(d, "signature", str)
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("checkpoint: field 'signature' is not valid base64") from None
    if len(signature) != _SIGNATURE_SIZE:
        raise ValueError(f"checkpoint: field 'signature' must decode to {_SIGNATURE_SIZE} bytes")

    return Checkpoint(size=size, root_hash=root_hash, timestamp=timestamp, key_id=key_id, signature=signature)
