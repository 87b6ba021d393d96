"""What the service's keys give the accounts.

- The TOTP secret is sealed at rest with the active key-encryption key (AES-256-GCM; random
  96-bit nonce; the associated data binds it to the account id, so a sealed secret copied onto
  another account does not open). Old key-encryption keys stay readable until retired.
- The session cookie is signed (itsdangerous, HMAC-SHA256) with a key derived by HKDF-SHA256
  from each key-encryption key: rotating the KEK keeps cookies signed under the previous one
  valid until that KEK is retired.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from itsdangerous import BadSignature, Signer

from app.crypto.envelope import Kek
from app.crypto.keyring import Keyring

_TOTP_AAD = b"outcome-ttp/totp-secret/v1|"
_PENDING_AAD = b"outcome-ttp/totp-pending/v1|"
_COOKIE_INFO = b"outcome-ttp/web-session-cookie/v1"
NONCE_BYTES = 12


class SealedSecretError(Exception):
    """A sealed secret does not open (unknown key, another account's, tampered)."""


def _derive(kek: Kek, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(kek.key)


@dataclass(frozen=True)
class AccountKeys:
    active: Kek
    keks: Mapping[str, Kek]

    @classmethod
    def from_keyring(cls, keyring: Keyring) -> AccountKeys:
        return cls(active=keyring.active_kek(), keks=keyring.keks())

    # ---- the TOTP secret at rest ------------------------------------------------------------
    def seal(self, secret: str, account_id: str, *, pending: bool = False) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        aad = (_PENDING_AAD if pending else _TOTP_AAD) + account_id.encode()
        return self.active.key_id, nonce + AESGCM(self.active.key).encrypt(nonce, secret.encode(), aad)

    def open(self, kek_id: str, sealed: bytes, account_id: str, *, pending: bool = False) -> str:
        kek = self.keks.get(kek_id)
        if kek is None or len(sealed) <= NONCE_BYTES:
            raise SealedSecretError("the sealed secret's key is unknown or the blob is short")
        aad = (_PENDING_AAD if pending else _TOTP_AAD) + account_id.encode()
        try:
            return AESGCM(kek.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad).decode()
        except InvalidTag:
            raise SealedSecretError("the sealed secret does not open") from None

    # ---- signing cookies and form tokens ------------------------------------------------------
    def signer(self, salt: str) -> Signer:
        """Signs with the key derived from the active KEK; verifies under every KEK's key."""
        others = [_derive(k, _COOKIE_INFO) for i, k in sorted(self.keks.items()) if i != self.active.key_id]
        return Signer([*others, _derive(self.active, _COOKIE_INFO)], salt=salt, digest_method=hashlib.sha256)

    def sign(self, value: str, salt: str) -> str:
        return self.signer(salt).sign(value).decode()

    def unsign(self, signed: str, salt: str) -> str | None:
        try:
            return self.signer(salt).unsign(signed).decode()
        except (BadSignature, UnicodeError):
            return None
