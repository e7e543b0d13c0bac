"""The stored form of random secrets: authorization codes, refresh tokens, client secrets,
launch ids, mailed links and session ids."""

from __future__ import annotations

import hashlib


def digest(secret: str) -> str:
    """Hex SHA-256 of a random secret.

    These are long random strings, not passwords: a fast hash loses nothing, and a database
    leak gives no usable value. (Passwords use Argon2, in ``platform_core.identity``.)"""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
