"""Password hashing (Argon2id, argon2-cffi) and the password rules.

Hashes use argon2-cffi's default parameters (RFC 9106 low-memory profile, Argon2id); a hash
made with older parameters is upgraded the next time its owner signs in
(:func:`needs_rehash`). :func:`verify_dummy` spends the same time as a real check, so a
login for an unknown email takes as long as one for a known email.
"""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from platform_core.identity.errors import IdentityError

MIN_LENGTH = 10
"""Shortest accepted password (NIST SP 800-63B asks for at least 8)."""
MAX_LENGTH = 1024
"""Longest accepted password: hashing megabytes on request would be a denial of service."""

_COMMON = frozenset(
    {
        "1234567890",
        "0123456789",
        "password12",
        "password123",
        "password1234",
        "qwertyuiop",
        "1q2w3e4r5t",
        "iloveyou12",
        "aaaaaaaaaa",
        "abcdefghij",
        "letmein123",
        "welcome123",
        "changeme123",
        "passw0rd123",
    }
)
"""A few passwords long enough to pass the length rule but guessed first by any attacker."""

hasher = PasswordHasher()
"""The module's hasher; tests replace it with a cheaper one to save time."""


def check_strength(password: str) -> None:
    """Raise ``weak_password`` unless ``password`` is long enough and not a known-common one."""
    if len(password) < MIN_LENGTH:
        raise IdentityError(
            "weak_password", f"The password must have at least {MIN_LENGTH} characters."
        )
    if len(password) > MAX_LENGTH:
        raise IdentityError(
            "weak_password", f"The password must have at most {MAX_LENGTH} characters."
        )
    if password.lower() in _COMMON or len(set(password)) < 4:
        raise IdentityError("weak_password", "The password is too easy to guess.")


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (after :func:`check_strength`)."""
    check_strength(password)
    return hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``; False for an account without one."""
    if not stored_hash or len(password) > MAX_LENGTH:
        verify_dummy(password[:MAX_LENGTH])
        return False
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether a hash was made with parameters older than the current ones."""
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


_dummy_hash: dict[int, str] = {}


def verify_dummy(password: str) -> None:
    """Spend the time of one verification, for logins whose account does not exist."""
    key = id(hasher)
    if key not in _dummy_hash:
        _dummy_hash.clear()
        _dummy_hash[key] = hasher.hash("not a real password")
    with contextlib.suppress(VerificationError, InvalidHashError):
        hasher.verify(_dummy_hash[key], password)
