"""Write transactions for the identity module.

On SQLite a write transaction must start with ``BEGIN IMMEDIATE`` (see
``platform_core/db/engine.py``) so two writers queue instead of failing when a read lock is
upgraded; the engine does that for connections carrying ``WRITE_OPTION``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from platform_core.db.engine import WRITE_OPTION


@contextmanager
def write(db: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends cleanly."""
    with db.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn
