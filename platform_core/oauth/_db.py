"""Small database helpers shared by the authorization server's stores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from platform_core.db.engine import WRITE_OPTION


@contextmanager
def write(db: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends cleanly.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (the engine does that for
    ``WRITE_OPTION``), so that the check-then-update of a code or refresh token cannot
    interleave with another writer's."""
    with db.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def digest(secret: str) -> str:
    """Hex SHA-256 of a random secret (codes, refresh tokens, client secrets, launch ids).

    These are long random strings, not passwords: a fast hash loses nothing, and a database
    leak gives no usable value."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
