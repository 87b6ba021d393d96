"""The TTP's key directory: token-signing, key-encryption, stage-2 pseudonym and audit keys.

Layout (``TTP_KEY_DIR``)::

    keyring.json                 origin (development | production), active key id per purpose
    token-signing/<kid>.pem      ES256 (P-256) private keys that sign access tokens
    kek/<kid>.key                32-byte AES-256 key-encryption keys
    pseudonym/<kid>.key          32-byte stage-2 pseudonym keys (kid = scheme version, v1, v2 ...)
    audit-signing/<kid>.pem      Ed25519 private keys that sign audit checkpoints

Every file is created with mode 0600 and every folder with 0700. Old keys stay until removed by
hand, so that data made under them stays readable; ``active`` names the key new data uses.
In production the service refuses a key directory whose ``origin`` is ``development``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from app.crypto.envelope import Kek
from pseudonymisation.keys import PseudonymKey

Purpose = Literal["token-signing", "kek", "pseudonym", "audit-signing"]
PURPOSES: tuple[Purpose, ...] = ("token-signing", "kek", "pseudonym", "audit-signing")
_SUFFIX = {"token-signing": ".pem", "kek": ".key", "pseudonym": ".key", "audit-signing": ".pem"}
MANIFEST = "keyring.json"


class KeyringError(Exception):
    """The key directory is missing, incomplete or unsafe; the message says what to do."""


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextmanager
def _creating(directory: Path) -> Iterator[None]:
    """An exclusive lock (across processes) on creating the key directory ``directory``."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory.parent / f".{directory.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _new_material(purpose: Purpose) -> bytes:
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    if purpose == "token-signing":
        key = ec.generate_private_key(ec.SECP256R1())
    elif purpose == "audit-signing":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        return secrets.token_bytes(32)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _new_key_id(purpose: Purpose, existing: list[str]) -> str:
    if purpose == "pseudonym":
        # The pseudonym key id doubles as the scheme version in every pseudonym (p2.v1.*).
        return f"v{len(existing) + 1}"
    prefix = {"token-signing": "ts", "kek": "kek", "audit-signing": "audit"}[purpose]
    return f"{prefix}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


@dataclass
class Keyring:
    """A loaded key directory."""

    directory: Path
    origin: str
    active: dict[str, str]

    # ---- opening and creating -------------------------------------------------------------
    @classmethod
    def open(cls, directory: Path) -> Keyring:
        manifest = directory / MANIFEST
        if not manifest.exists():
            raise KeyringError(
                f"no key directory at {directory}: run `ttp keys init` (production) or `ttp serve` "
                "in development, which creates development keys"
            )
        data = json.loads(manifest.read_text())
        ring = cls(directory=directory, origin=data["origin"], active=dict(data["active"]))
        missing = [p for p in PURPOSES if p not in ring.active]
        if missing:
            raise KeyringError(f"key directory {directory} has no active key for: {', '.join(missing)}")
        return ring

    @classmethod
    def create(cls, directory: Path, *, origin: str) -> Keyring:
        """Create a complete key directory (``origin``: development or production)."""
        with _creating(directory):
            return cls._create(directory, origin=origin)

    @classmethod
    def _create(cls, directory: Path, *, origin: str) -> Keyring:
        if (directory / MANIFEST).exists():
            raise KeyringError(f"a key directory already exists at {directory}")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        ring = cls(directory=directory, origin=origin, active={})
        for purpose in PURPOSES:
            ring.add(purpose)
        return ring

    @classmethod
    def ensure_development(cls, directory: Path) -> Keyring:
        """Open the key directory, creating development keys when there is none. Several processes
        starting at once on a fresh data directory (``ttp serve --workers N``) make one set of keys:
        the first creates them under a file lock, the others wait and open them."""
        with _creating(directory):
            if (directory / MANIFEST).exists():
                return cls.open(directory)
            return cls._create(directory, origin="development")

    def _save(self) -> None:
        tmp = self.directory / (MANIFEST + ".tmp")
        if tmp.exists():
            tmp.unlink()
        _write_private(tmp, json.dumps({"origin": self.origin, "active": self.active}, indent=2).encode())
        os.replace(tmp, self.directory / MANIFEST)

    def add(self, purpose: Purpose) -> str:
        """Make a new key for ``purpose`` and make it the active one; returns its id."""
        key_id = _new_key_id(purpose, self.key_ids(purpose))
        _write_private(self._path(purpose, key_id), _new_material(purpose))
        self.active[purpose] = key_id
        self._save()
        return key_id

    # ---- reading ------------------------------------------------------------------------------
    def _path(self, purpose: Purpose, key_id: str) -> Path:
        return self.directory / purpose / f"{key_id}{_SUFFIX[purpose]}"

    def key_ids(self, purpose: Purpose) -> list[str]:
        folder = self.directory / purpose
        if not folder.exists():
            return []
        return sorted(p.name.removesuffix(_SUFFIX[purpose]) for p in folder.glob(f"*{_SUFFIX[purpose]}"))

    def material(self, purpose: Purpose, key_id: str | None = None) -> bytes:
        key_id = key_id or self.active[purpose]
        path = self._path(purpose, key_id)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise KeyringError(f"key {purpose}/{key_id} is missing from {self.directory}") from None
        if mode & 0o077:
            raise KeyringError(f"key file {path} is readable by others: chmod 600 it")
        return path.read_bytes()

    def token_signing_key(self) -> tuple[str, ec.EllipticCurvePrivateKey]:
        key_id = self.active["token-signing"]
        key = serialization.load_pem_private_key(self.material("token-signing", key_id), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key_id, key

    def token_verification_keys(self) -> dict[str, ec.EllipticCurvePublicKey]:
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        for key_id in self.key_ids("token-signing"):
            key = serialization.load_pem_private_key(self.material("token-signing", key_id), password=None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            keys[key_id] = key.public_key()
        return keys

    def audit_signing_key(self, key_id: str | None = None) -> tuple[str, ed25519.Ed25519PrivateKey]:
        key_id = key_id or self.active["audit-signing"]
        key = serialization.load_pem_private_key(self.material("audit-signing", key_id), password=None)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key_id, key

    def keks(self) -> dict[str, Kek]:
        """Every key-encryption key on disk, by id (old ones stay readable until removed)."""
        return {key_id: Kek(key_id=key_id, key=self.material("kek", key_id)) for key_id in self.key_ids("kek")}

    def active_kek(self) -> Kek:
        key_id = self.active["kek"]
        return Kek(key_id=key_id, key=self.material("kek", key_id))

    def pseudonym_key(self, key_id: str | None = None) -> PseudonymKey:
        """The stage-2 pseudonym key; its id is the scheme version in every stage-2 pseudonym."""
        key_id = key_id or self.active["pseudonym"]
        return PseudonymKey(key_id=key_id, secret=self.material("pseudonym", key_id))

    @property
    def is_development(self) -> bool:
        return self.origin == "development"
