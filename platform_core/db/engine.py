"""Engine factory: one SQLAlchemy engine per app, tuned per backend.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and write transactions
start with ``BEGIN IMMEDIATE`` so that two writers queue instead of failing on lock upgrade.
PostgreSQL uses psycopg 3. The pool does not ping before each checkout (that would add a
round trip to every request); instead a connection that fails with a disconnect invalidates
the whole pool, so connections lost while the database was away are replaced on next use.
Reads use :func:`create_read_engine`, whose connections skip BEGIN/ROLLBACK round trips.
Per-process lookups that may run while their thread already holds a pooled connection use
:func:`create_side_engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from platform_core.config import Settings
from platform_core.db import prepared
from platform_core.db.types import SQLITE_DECIMAL_MID, decimal_mid_key

WRITE_OPTION = "fireside_write"


def create_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url``."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    kwargs: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": False,
        "pool_recycle": 1800,
    }
    if url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = _pg_connect_args(settings)
    return prepared.install(sa.create_engine(url, **kwargs))


def create_side_engine(settings: Settings) -> Engine:
    """An engine with one connection of its own, for short per-process lookups (the
    snapshot of custom search parameters) that may run while the calling thread already
    holds a connection from the main pool.

    Taking a second connection from that pool would deadlock under load: when every pooled
    connection belongs to a request waiting for this thread (for SQLite's write lock, or a
    row lock), nobody returns one. Callers serialise their use of it (one connection).
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, pool_size=1, max_overflow=0)
    kwargs: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, "pool_recycle": 1800}
    if url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = _pg_connect_args(settings)
        kwargs["isolation_level"] = "AUTOCOMMIT"
        kwargs["pool_reset_on_return"] = None
    return prepared.install(sa.create_engine(url, **kwargs))


NEVER_PREPARE_BY_COUNT = 2**31 - 1
"""psycopg's ``prepare_threshold``: so many runs before it prepares a statement on its own."""


def _pg_connect_args(settings: Settings) -> dict[str, Any]:
    """psycopg options. psycopg never prepares a statement on its own: after five runs it
    would, and PostgreSQL may then switch to a generic plan that ignores the actual values,
    which measured 800 ms instead of 0.4 ms for a token search at a million resources
    (docs/benchmarks.md#search). A statement whose plan does not depend on its values is
    prepared on purpose instead (:mod:`platform_core.db.prepared`; a threshold of None would
    forbid that too)."""
    return {
        "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        "connect_timeout": 5,
        "prepare_threshold": NEVER_PREPARE_BY_COUNT,
    }


def _sqlite_engine(url: sa.URL, **pool: int) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_pre_ping=False,
        **pool,
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event (below) own transaction start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()
        # Exact decimal arithmetic for the search index (platform_core.db.types.ExactDecimal).
        dbapi_conn.create_function(SQLITE_DECIMAL_MID, 2, decimal_mid_key, deterministic=True)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded SQLite backend."""
    return engine.dialect.name == "sqlite"


def create_read_engine(settings: Settings, engine: Engine) -> Engine:
    """The engine for reads outside write transactions.

    On PostgreSQL a second pool whose connections stay in autocommit mode: a read is then one
    round trip (no BEGIN, no ROLLBACK when the connection returns to the pool, no isolation
    switch per checkout). SQLite reads share the main engine.
    """
    if engine.dialect.name != "postgresql":
        return engine
    read = sa.create_engine(
        engine.url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
        pool_reset_on_return=None,
        isolation_level="AUTOCOMMIT",
        connect_args=_pg_connect_args(settings),
    )
    return prepared.install(read)


AFTER_COMMIT = "fireside_after_commit"


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the transaction open on ``conn`` has committed (never when it
    rolls back: work that follows a write must not happen without it). Only transactions
    opened by :func:`write_transaction` run these."""
    conn.info.setdefault(AFTER_COMMIT, []).append(callback)


@contextmanager
def write_transaction(db: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed when the block ends cleanly; then
    the :func:`after_commit` callbacks run, after the connection went back to the pool.

    It carries ``WRITE_OPTION``, so on SQLite the transaction starts with ``BEGIN IMMEDIATE``:
    a check-then-update (a code, a refresh token, a login counter) cannot interleave with
    another writer's, and two writers queue instead of failing on a lock upgrade."""
    with db.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        # ``info`` lives with the pooled DBAPI connection: drop what a rolled-back
        # transaction left there.
        conn.info.pop(AFTER_COMMIT, None)
        with conn.begin():
            yield conn
        callbacks = conn.info.pop(AFTER_COMMIT, [])
    for callback in callbacks:
        callback()
