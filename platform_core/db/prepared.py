"""Server-side prepared statements on a generic plan, for chosen statements on PostgreSQL.

Planning can cost PostgreSQL more than running a short statement: a birth-year search spent
about 1.1 of its 2.2 ms there on parsing and planning. A prepared statement is parsed once
per connection and, on a generic plan, planned once too. The engines leave psycopg's
automatic preparing off (``engine._pg_connect_args``), because where the best plan depends
on the values a generic plan can be far worse (a popular token against a rare one: 800 ms
instead of 0.4 ms). So preparing is opt-in per statement, for statements whose plan cannot
depend on their values: mark one with :func:`prepared`.

The engine then runs it, in one pipelined round trip, between ``SET plan_cache_mode =
force_generic_plan`` and ``RESET plan_cache_mode``: left to itself, PostgreSQL kept
re-planning such a statement (its generic cost estimate, made without the values, came out
above the custom one), and the setting cannot be left on, since it also applies to the
unnamed statements every other query is sent as. The three run in one transaction (the
caller's, or the pipeline's implicit one), so a failing statement takes the ``SET`` with it.
psycopg keeps the prepared statement per connection (up to its ``prepared_max``) and reuses
it for the same SQL. Elsewhere (SQLite) the mark does nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

PREPARE_OPTION = "fireside_prepare"

E = TypeVar("E", bound=Executable)


GENERIC = "generic"
"""The mark's value for a statement forced onto its generic plan."""

AUTO = "auto"
"""The mark's value for a statement left to PostgreSQL's choice (after five custom plans it
keeps the generic one when that costs no more: a key lookup)."""


def prepared(statement: E, *, generic: bool = True) -> E:
    """``statement``, marked to run as a server-side prepared statement on PostgreSQL: on its
    generic plan from the first run, or with ``generic=False`` (a key lookup, whose generic
    plan PostgreSQL picks by itself) without the two extra statements that forcing takes."""
    return statement.execution_options(**prepare_options(generic=generic))


def prepare_options(*, generic: bool = True) -> dict[str, str]:
    """The execution options of :func:`prepared`, for driver-level SQL
    (``Connection.exec_driver_sql(..., execution_options=...)``)."""
    return {PREPARE_OPTION: GENERIC if generic else AUTO}


def is_prepared(statement: Executable) -> bool:
    """Whether ``statement`` carries the :func:`prepared` mark."""
    return bool(statement.get_execution_options().get(PREPARE_OPTION))


def install(engine: Engine) -> Engine:
    """Make ``engine`` honour :func:`prepared` marks (PostgreSQL with psycopg only)."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "do_execute", _execute)
    return engine


_GENERIC = "SET plan_cache_mode = force_generic_plan"
_RESET = "RESET plan_cache_mode"


def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    mark = context.execution_options.get(PREPARE_OPTION)
    if not mark:
        return None  # SQLAlchemy executes it as usual
    if mark == AUTO:
        cursor.execute(statement, parameters, prepare=True)
        return True
    conn = cursor.connection
    with conn.pipeline():
        conn.execute(_GENERIC)
        cursor.execute(statement, parameters, prepare=True)
        conn.execute(_RESET)
    return True
