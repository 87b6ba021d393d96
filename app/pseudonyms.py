"""The TTP side of pseudonymisation: stage-1 pseudonyms in, stage-2 pseudonyms stored.

A thin binding of :mod:`pseudonymisation` to the TTP's key directory. Nothing here logs or
returns a stage-1 value; callers store only what :meth:`TtpPseudonymiser.stage2` returns.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pseudonymisation.keys import PseudonymKey
from pseudonymisation.stage2 import InvalidPseudonym, stage2

__all__ = ["InvalidPseudonym", "TtpPseudonymiser"]


@dataclass(frozen=True)
class TtpPseudonymiser:
    key: PseudonymKey

    def stage2(self, stage1_value: str) -> str:
        """The stored pseudonym for a provider's stage-1 value (raises InvalidPseudonym)."""
        return stage2(stage1_value, self.key)

    def reference_hash(self, provider_id: str, reference: str) -> str:
        """A keyed hash of a provider's own reference (e.g. its consent reference), so duplicates
        can be refused without storing the reference itself."""
        message = f"outcome-ttp/reference/{provider_id}/{reference}".encode()
        return hmac.new(self.key.secret, message, hashlib.sha256).hexdigest()

    def consent_id_hash(self, consent_id: str) -> str:
        """A keyed hash of a consent id, the only form the consents table keeps: the audit log names
        consents by id, and a copy of the database must not join those entries (a withdrawal and its
        instant) to the consent's pseudonym."""
        message = f"outcome-ttp/consent-id/{consent_id}".encode()
        return hmac.new(self.key.secret, message, hashlib.sha256).hexdigest()
