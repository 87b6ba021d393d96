"""Pseudonymisation keys and their file format.

Both steps of the scheme use a 32-byte HMAC-SHA256 key labelled with a short version id
(``v1``, ``v2``, ...) that is written into every pseudonym made with it, so keys can be
replaced later:

* the *stage-1* (provider) key, shared once, out of band, by all providers of a scheme
  (``ttp keys provider-key`` prints a new one);
* the *stage-2* key, known only to the TTP.

A key file is one JSON object::

    {"scheme": "outcome-ttp-pseudonym", "key_id": "v1", "key": "<base64url, no padding>"}

Files are created with mode 0600 and, by default, refused when group or others have any
access.  Error messages name the problem but never contain key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass

__all__ = [
    "KEY_BYTES",
    "KEY_SCHEME",
    "KeyFileError",
    "PseudonymKey",
    "b64url_decode",
    "b64url_encode",
    "generate_key",
    "key_from_text",
    "key_to_text",
    "load_key_file",
    "write_key_file",
]

KEY_SCHEME = "outcome-ttp-pseudonym"
KEY_BYTES = 32
KEY_ID_PATTERN = r"v[0-9]{1,4}"
_KEY_ID_RE = re.compile(KEY_ID_PATTERN)
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_MAX_KEY_FILE_BYTES = 4096
_KEY_ID_RULE = "expected 'v' followed by 1 to 4 digits, e.g. 'v1'"

StrPath = str | os.PathLike[str]


class KeyFileError(ValueError):
    """A key file or key text is missing, malformed or not private enough."""


def b64url_encode(data: bytes) -> str:
    """URL-safe base64 without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of :func:`b64url_encode`: raises ValueError (not echoing ``text``)
    for padding, other characters, impossible lengths or a non-canonical last character."""
    if not isinstance(text, str) or _B64URL_RE.fullmatch(text) is None or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not unpadded base64url") from None
    if b64url_encode(data) != text:
        raise ValueError("not canonical unpadded base64url")
    return data


@dataclass(frozen=True, repr=False)
class PseudonymKey:
    """An HMAC-SHA256 pseudonymisation key and its version label.

    ``repr()``/``str()`` show the key id only, never the secret.
    """

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or _KEY_ID_RE.fullmatch(self.key_id) is None:
            raise ValueError(f"bad key id: {_KEY_ID_RULE}")
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_BYTES:
            raise ValueError(f"key secret must be exactly {KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return f"PseudonymKey(key_id={self.key_id!r}, secret=<hidden>)"


def generate_key(key_id: str = "v1") -> PseudonymKey:
    """A new random key from the operating system's CSPRNG."""
    return PseudonymKey(key_id=key_id, secret=secrets.token_bytes(KEY_BYTES))


def key_to_text(key: PseudonymKey) -> str:
    """The key-file JSON for ``key`` (one line, no trailing newline)."""
    return json.dumps({"scheme": KEY_SCHEME, "key_id": key.key_id, "key": b64url_encode(key.secret)})


def key_from_text(text: str | bytes) -> PseudonymKey:
    """Parse the JSON written by :func:`key_to_text`; raises :class:`KeyFileError`.

    Unknown extra fields are ignored.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg is a fixed phrase such as "Expecting value"; the document is not included.
        raise KeyFileError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (TypeError, UnicodeDecodeError):
        raise KeyFileError("not valid JSON text") from None
    if not isinstance(data, dict):
        raise KeyFileError("not a JSON object")
    if data.get("scheme") != KEY_SCHEME:
        raise KeyFileError(f"wrong scheme: expected {KEY_SCHEME!r}")
    key_id = data.get("key_id")
    if not isinstance(key_id, str) or _KEY_ID_RE.fullmatch(key_id) is None:
        raise KeyFileError(f"bad key id: {_KEY_ID_RULE}")
    encoded = data.get("key")
    if not isinstance(encoded, str):
        raise KeyFileError("missing key: expected a base64url string in field 'key'")
    try:
        secret = b64url_decode(encoded)
    except ValueError:
        raise KeyFileError("key is not unpadded base64url") from None
    if len(secret) != KEY_BYTES:
        raise KeyFileError(f"wrong key length: {len(secret)} bytes, expected {KEY_BYTES}")
    return PseudonymKey(key_id=key_id, secret=secret)


def write_key_file(key: PseudonymKey, path: StrPath, *, overwrite: bool = False) -> None:
    """Write ``key`` to ``path`` with mode 0600.

    Refuses (:class:`KeyFileError`) an existing file unless ``overwrite`` is true, and never
    writes through a symbolic link.
    """
    name = os.fspath(path)
    payload = (key_to_text(key) + "\n").encode("ascii")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    try:
        fd = os.open(name, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{name}: file exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise KeyFileError(f"{name}: cannot create key file ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)  # an overwritten file keeps its old mode otherwise
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key_file(path: StrPath, *, require_private: bool = True) -> PseudonymKey:
    """Read a key file; raises :class:`KeyFileError` naming the problem.

    With ``require_private`` (the default) a file that group or others may access in any way
    is refused: keys must be mode 0600 (or stricter).
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise KeyFileError(f"{name}: key file not found") from None
    except OSError as exc:
        raise KeyFileError(f"{name}: cannot open key file ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"{name}: not a regular file")
        mode = stat.S_IMODE(st.st_mode)
        if require_private and mode & 0o077:
            raise KeyFileError(
                f"{name}: mode {mode:04o} gives group/others access; key files must be 0600 (chmod 600)"
            )
        raw = b""
        while chunk := os.read(fd, _MAX_KEY_FILE_BYTES + 1 - len(raw)):
            raw += chunk
            if len(raw) > _MAX_KEY_FILE_BYTES:
                raise KeyFileError(f"{name}: too large for a key file")
    except OSError as exc:
        raise KeyFileError(f"{name}: cannot read key file ({exc.strerror})") from None
    finally:
        os.close(fd)
    try:
        return key_from_text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise KeyFileError(f"{name}: not UTF-8 text") from None
    except KeyFileError as exc:
        raise KeyFileError(f"{name}: {exc}") from None
