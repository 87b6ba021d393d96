"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits).

A code is accepted in the current step or one step either side (clock drift), and only for a
step later than the last one accepted for the account: a code is usable once.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1
ISSUER = "Outcome TTP"
_CODE = re.compile(r"\d{6}")


def new_secret() -> str:
    """A new base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=email, issuer_name=ISSUER)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def accepted_step(secret: str, code: str, *, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` is valid for (a step after ``last_step``), or None."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    step = current_step(now)
    found = None
    for candidate in range(step - WINDOW, step + WINDOW + 1):
        # Compare every candidate (constant work), remember the match.
        if hmac.compare_digest(code_at(secret, candidate), code) and found is None:
            found = candidate
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found
