"""Envelope encryption for outcome records at rest (AES-256-GCM).

Pure module: no I/O, no key storage. Key files are the keyring's business; this module only
receives key bytes. It serves security property 4 (a copy of the database without the keys
reveals no outcome answer, date or pseudonym).

Two layers:

* A **key encryption key** (:class:`Kek`, 32 bytes, with a ``key_id``) wraps data keys.
* A **data key** (DEK, 32 bytes) per batch encrypts the record payloads of that batch. Only its
  wrapped form (:class:`WrappedKey`) is stored, next to the batch.

Formats
-------
Wrapped DEK (``WrappedKey.blob``, 60 bytes)::

    nonce (12 random bytes) || AES-256-GCM(kek).encrypt(nonce, dek, aad) (32 + 16-byte tag)
    aad = b"outcome-ttp/dek/v1|" + kek_id (UTF-8)

Random 96-bit nonces are safe here because a KEK wraps one DEK per batch, far fewer than the
2**32 encryptions per key that NIST SP 800-38D allows with random nonces (collision probability
below 2**-32). A KEK must be rotated (see :func:`rewrap`) well before it wraps 2**32 data keys.

Sealed record (``BatchSealer.seal`` output, 1 + 8 + len(plaintext) + 16 bytes)::

    version (1 byte, = 1) || counter (8 bytes, big-endian) || GCM ciphertext || tag (16 bytes)
    nonce   = 4 zero bytes || counter (8 bytes, big-endian)
    GCM aad = version || counter || caller aad   (header authenticated; fixed length, so unambiguous)

The counter nonce is deterministic: it starts at 0 and is incremented per seal. It never repeats
because a DEK is generated inside one :class:`BatchSealer`, used by that object only, never
exported in the clear and never loaded back for further sealing (the sealer refuses to be copied
or pickled). Sealing stops with :class:`NonceExhausted` rather than wrap the counter.

The caller's aad should be :func:`record_aad`, which binds record id, provider and format
version, so that a ciphertext copied into another row does not decrypt.
"""

from __future__ import annotations

import hmac
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn, SupportsIndex

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "FORMAT_VERSION",
    "KEY_BYTES",
    "BatchSealer",
    "DecryptionFailed",
    "EnvelopeError",
    "Kek",
    "NonceExhausted",
    "UnknownKek",
    "Unsealer",
    "WrappedKey",
    "generate_kek",
    "open_sealed",
    "record_aad",
    "rewrap",
]

FORMAT_VERSION = 1
"""Version byte at the start of every sealed record."""

KEY_BYTES = 32
"""AES-256: KEKs and DEKs are 32 bytes."""

NONCE_BYTES = 12
TAG_BYTES = 16
WRAPPED_BLOB_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES
MAX_COUNTER = 2**64 - 1

_HEADER = struct.Struct(">BQ")  # version, counter
_NONCE_PREFIX = b"\x00\x00\x00\x00"
_DEK_AAD_PREFIX = b"outcome-ttp/dek/v1|"
_RECORD_AAD_TAG = b"outcome-ttp/record-aad/v1"
_U32 = struct.Struct(">I")


class EnvelopeError(Exception):
    """Base class for envelope encryption errors."""


class UnknownKek(EnvelopeError, LookupError):  # domain name chosen by design
    """The KEK named by a wrapped key is not in the supplied key mapping."""

    def __init__(self, kek_id: str) -> None:
        super().__init__(f"unknown key encryption key id {kek_id!r}")
        self.kek_id = kek_id


class DecryptionFailed(EnvelopeError):  # domain name chosen by design
    """Authentication failed: wrong key, wrong aad (moved ciphertext), tampering or bad format."""


class NonceExhausted(EnvelopeError):  # domain name chosen by design
    """The sealer's nonce counter is used up; start a new batch (new sealer, new DEK)."""


def _check_key(key: bytes, what: str) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"{what} must be bytes, not {type(key).__name__}")
    if len(key) != KEY_BYTES:
        raise ValueError(f"{what} must be {KEY_BYTES} bytes (AES-256), got {len(key)}")


def _check_key_id(key_id: str) -> None:
    if not isinstance(key_id, str):
        raise TypeError(f"key id must be str, not {type(key_id).__name__}")
    if not key_id:
        raise ValueError("key id must not be empty")
    key_id.encode("utf-8")  # rejects lone surrogates early


@dataclass(frozen=True)
class Kek:
    """A key encryption key: 32 key bytes and the id under which wrapped keys name it.

    The key bytes are left out of ``repr`` so that they do not end up in logs or tracebacks.
    """

    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)
        _check_key(self.key, "KEK")


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted under the KEK ``kek_id``; ``blob`` = nonce || GCM ciphertext+tag."""

    kek_id: str
    blob: bytes

    def __post_init__(self) -> None:
        _check_key_id(self.kek_id)
        if not isinstance(self.blob, bytes):
            raise TypeError(f"blob must be bytes, not {type(self.blob).__name__}")


def generate_kek(key_id: str) -> Kek:
    """A fresh random KEK (32 bytes from the OS CSPRNG)."""
    return Kek(key_id=key_id, key=AESGCM.generate_key(bit_length=256))


def _dek_aad(kek_id: str) -> bytes:
    return _DEK_AAD_PREFIX + kek_id.encode("utf-8")


def _wrap(dek: bytes, kek: Kek) -> WrappedKey:
    nonce = os.urandom(NONCE_BYTES)
    blob = nonce + AESGCM(kek.key).encrypt(nonce, dek, _dek_aad(kek.key_id))
    return WrappedKey(kek_id=kek.key_id, blob=blob)


def _resolve_kek(wrapped: WrappedKey, keks: Mapping[str, Kek]) -> Kek:
    kek = keks.get(wrapped.kek_id)
    if kek is None:
        raise UnknownKek(wrapped.kek_id)
    if kek.key_id != wrapped.kek_id:
        # A mapping entry filed under the wrong id would silently weaken the id binding.
        raise ValueError(f"key mapping entry {wrapped.kek_id!r} holds KEK {kek.key_id!r}")
    return kek


def _unwrap_with(wrapped: WrappedKey, kek: Kek, kek_aead: AESGCM | None = None) -> bytes:
    """The data key of ``wrapped``; ``kek_aead`` is ``AESGCM(kek.key)`` when the caller keeps one."""
    blob = wrapped.blob
    if len(blob) != WRAPPED_BLOB_BYTES:
        raise DecryptionFailed("wrapped data key has the wrong length")
    try:
        aead = kek_aead if kek_aead is not None else AESGCM(kek.key)
        dek = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _dek_aad(wrapped.kek_id))
    except InvalidTag:
        raise DecryptionFailed("data key does not unwrap under the named KEK") from None
    return dek


def _unwrap(wrapped: WrappedKey, keks: Mapping[str, Kek]) -> bytes:
    return _unwrap_with(wrapped, _resolve_kek(wrapped, keks))


def rewrap(wrapped: WrappedKey, keks: Mapping[str, Kek], new_kek: Kek) -> WrappedKey:
    """Re-encrypt a data key under ``new_kek`` (KEK rotation); sealed payloads stay as they are."""
    return _wrap(_unwrap(wrapped, keks), new_kek)


def record_aad(record_id: str, provider_id: str, format_version: int) -> bytes:
    """The additional authenticated data that ties a sealed payload to its row.

    Encoding: domain tag, then each string as 4-byte big-endian length || UTF-8 bytes, then the
    format version as 4-byte big-endian unsigned. Length prefixes make it injective: no two
    different (record_id, provider_id, format_version) triples give the same bytes.
    """
    for name, value in (("record_id", record_id), ("provider_id", provider_id)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if isinstance(format_version, bool) or not isinstance(format_version, int):
        raise TypeError("format_version must be int")
    if not 0 <= format_version <= 0xFFFFFFFF:
        raise ValueError("format_version must fit in 32 bits unsigned")
    parts = [_RECORD_AAD_TAG]
    for value in (record_id, provider_id):
        encoded = value.encode("utf-8")
        parts.append(_U32.pack(len(encoded)))
        parts.append(encoded)
    parts.append(_U32.pack(format_version))
    return b"".join(parts)


def _as_bytes(value: bytes, name: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, not {type(value).__name__}")


class BatchSealer:
    """Seals the records of one batch under a fresh DEK with counter nonces.

    Use one sealer per batch and store ``wrapped_key`` with the batch. The DEK lives only inside
    this object; the sealer cannot be copied or pickled, so no second holder of the same DEK and
    counter can exist. Safe to share between threads.
    """

    def __init__(self, kek: Kek) -> None:
        if not isinstance(kek, Kek):
            raise TypeError("kek must be a Kek")
        dek = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(dek)
        self._wrapped = _wrap(dek, kek)
        self._next_counter = 0
        self._lock = threading.Lock()

    @property
    def wrapped_key(self) -> WrappedKey:
        return self._wrapped

    @property
    def sealed_count(self) -> int:
        """How many records this sealer has sealed."""
        return self._next_counter

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        plaintext = _as_bytes(plaintext, "plaintext")
        aad = _as_bytes(aad, "aad")
        with self._lock:
            counter = self._next_counter
            if counter > MAX_COUNTER:
                raise NonceExhausted("nonce counter exhausted for this data key; start a new batch")
            self._next_counter = counter + 1
        header = _HEADER.pack(FORMAT_VERSION, counter)
        nonce = _NONCE_PREFIX + header[1:]
        return header + self._aead.encrypt(nonce, plaintext, header + aad)

    def __repr__(self) -> str:
        return f"BatchSealer(kek_id={self._wrapped.kek_id!r}, sealed={self._next_counter})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # copy.copy, copy.deepcopy and pickle all go through here: a copy would reuse nonces.
        raise TypeError("BatchSealer holds a live data key and cannot be copied or pickled")


def _open_with(aead: AESGCM, ciphertext: bytes, aad: bytes) -> bytes:
    ciphertext = _as_bytes(ciphertext, "ciphertext")
    aad = _as_bytes(aad, "aad")
    if len(ciphertext) < _HEADER.size + TAG_BYTES:
        raise DecryptionFailed("sealed record is too short")
    header = ciphertext[: _HEADER.size]
    if header[0] != FORMAT_VERSION:
        raise DecryptionFailed(f"unsupported sealed record format version {header[0]}")
    nonce = _NONCE_PREFIX + header[1:]
    try:
        return aead.decrypt(nonce, ciphertext[_HEADER.size :], header + aad)
    except InvalidTag:
        raise DecryptionFailed("sealed record does not authenticate (wrong key, aad or tampered)") from None


def open_sealed(wrapped: WrappedKey, ciphertext: bytes, aad: bytes, keks: Mapping[str, Kek]) -> bytes:
    """Decrypt one sealed record. Raises :class:`UnknownKek` or :class:`DecryptionFailed`."""
    return _open_with(AESGCM(_unwrap(wrapped, keks)), ciphertext, aad)


class Unsealer:
    """Opens many sealed records, unwrapping each batch's DEK once (small LRU cache).

    ``keks`` is consulted on every call, so removing a KEK from the mapping makes its batches
    unreadable at once (``UnknownKek``), cached or not. Cache entries are keyed by KEK id and
    wrapped blob, and are only used while the KEK under that id is the one that unwrapped them.
    Safe to share between threads.
    """

    def __init__(self, keks: Mapping[str, Kek], cache_size: int = 256) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        self._keks = keks
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, bytes], tuple[bytes, AESGCM]] = OrderedDict()
        #: One AESGCM per KEK (by id, with the key bytes it was made from): a batch names thousands
        #: of consents, each sealed under its own data key when they were registered one by one.
        self._kek_aeads: dict[str, tuple[bytes, AESGCM]] = {}
        self._lock = threading.Lock()
        self._unwrap_count = 0

    @property
    def unwrap_count(self) -> int:
        """How many data keys were unwrapped (cache misses)."""
        return self._unwrap_count

    def _aead_for(self, wrapped: WrappedKey) -> AESGCM:
        kek = _resolve_kek(wrapped, self._keks)
        cache_key = (wrapped.kek_id, wrapped.blob)
        with self._lock:
            hit = self._cache.get(cache_key)
            if hit is not None and hmac.compare_digest(hit[0], kek.key):
                self._cache.move_to_end(cache_key)
                return hit[1]
        aead = AESGCM(_unwrap_with(wrapped, kek, self._kek_aead(kek)))
        with self._lock:
            self._unwrap_count += 1
            self._cache[cache_key] = (kek.key, aead)
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return aead

    def _kek_aead(self, kek: Kek) -> AESGCM:
        kept = self._kek_aeads.get(kek.key_id)
        if kept is not None and hmac.compare_digest(kept[0], kek.key):
            return kept[1]
        aead = AESGCM(kek.key)
        self._kek_aeads[kek.key_id] = (kek.key, aead)  # a plain dict store: safe between threads
        return aead

    def open(self, wrapped: WrappedKey, ciphertext: bytes, aad: bytes) -> bytes:
        return _open_with(self._aead_for(wrapped), ciphertext, aad)

    def kek(self, kek_id: str) -> Kek:
        """The key-encryption key under ``kek_id``; raises :class:`UnknownKek` as opening would."""
        kek = self._keks.get(kek_id)
        if kek is not None and kek.key_id == kek_id:
            return kek
        return _resolve_kek(WrappedKey(kek_id=kek_id, blob=b""), self._keks)

    def holds(self, kek: Kek) -> bool:
        """True while ``kek`` (the same key bytes under the same id) is one this unsealer opens with."""
        known = self._keks.get(kek.key_id)
        return known is kek or (known is not None and hmac.compare_digest(known.key, kek.key))

    def clear(self) -> None:
        """Forget all cached data keys."""
        with self._lock:
            self._cache.clear()
            self._kek_aeads.clear()

    def __repr__(self) -> str:
        return f"Unsealer(cached={len(self._cache)}, unwraps={self._unwrap_count})"
