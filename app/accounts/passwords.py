"""Passwords: argon2id hashes (RFC 9106) and a short, sensible policy (NIST SP 800-63B 5.1.1).

The policy asks for length, not for character classes: at least 12 characters, at most 128,
not the e-mail address, not one character repeated, not a well-known password.
"""

from __future__ import annotations

import secrets
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128

# RFC 9106 section 4, the second recommended option: t=3, 64 MiB, p=4.
HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4, hash_len=32, salt_len=16, type=Type.ID)
#: At most this many argon2 runs at once (each holds 64 MiB): concurrent logins queue.
AT_ONCE = 4
_SLOTS = threading.BoundedSemaphore(AT_ONCE)

_WELL_KNOWN = frozenset({
    "welkom123456", "wachtwoord123", "wachtwoord1234", "password1234", "123456789012", "qwertyuiopas",
    "welkomwelkom", "wachtwoordwachtwoord", "passwordpassword", "adminadminadmin",
})


def policy_problem(password: str, email: str | None = None) -> str | None:
    """Why ``password`` may not be used (Dutch, for the person choosing it), or None."""
    if len(password) < MIN_LENGTH:
        return f"Het wachtwoord moet minstens {MIN_LENGTH} tekens lang zijn."
    if len(password) > MAX_LENGTH:
        return f"Het wachtwoord mag hoogstens {MAX_LENGTH} tekens lang zijn."
    if len(set(password)) < 4:
        return "Het wachtwoord bestaat uit te weinig verschillende tekens."
    lowered = password.lower()
    if lowered in _WELL_KNOWN:
        return "Dit wachtwoord is te bekend; kies een ander."
    if email and (lowered == email.lower() or email.split("@")[0].lower() in lowered):
        return "Het wachtwoord mag het e-mailadres niet bevatten."
    return None


def generate_password() -> str:
    """A one-time password to hand over out of band: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    with _SLOTS:
        return HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    try:
        with _SLOTS:
            return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


#: What a password is checked against when there is no account: one argon2 run, as for a real
#: account with a wrong password, so the time taken does not tell which addresses exist.
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


def spend_like_a_check(password: str) -> None:
    verify_password(password, DUMMY_HASH)
