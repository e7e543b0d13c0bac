"""Server-side prepared statements for chosen statements on PostgreSQL.

Planning can cost PostgreSQL as much as running a short statement: about 0.5 of the 1.2 ms
a birth-year search spends there. A prepared statement is planned once per connection, and
after five runs PostgreSQL may switch it to a generic plan made without the values. The
engines leave psycopg's automatic preparing off (``engine._pg_connect_args``), because where
the best plan depends on the values a generic plan can be far worse (a popular token against
a rare one: 800 ms instead of 0.4 ms). So preparing is opt-in per statement, for statements
whose plan cannot depend on their values: mark one with :func:`prepared` and the engine
passes psycopg ``prepare=True`` when it runs it. psycopg keeps the prepared statement per
connection (up to its ``prepared_max``) and reuses it for the same SQL. Elsewhere (SQLite)
the mark does nothing.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

PREPARE_OPTION = "fireside_prepare"

E = TypeVar("E", bound=Executable)


def prepared(statement: E) -> E:
    """``statement``, marked to run as a server-side prepared statement on PostgreSQL."""
    return statement.execution_options(**{PREPARE_OPTION: True})


def is_prepared(statement: Executable) -> bool:
    """Whether ``statement`` carries the :func:`prepared` mark."""
    return bool(statement.get_execution_options().get(PREPARE_OPTION))


def install(engine: Engine) -> Engine:
    """Make ``engine`` honour :func:`prepared` marks (PostgreSQL with psycopg only)."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        event.listen(engine, "do_execute", _execute)
    return engine


def _execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    if not context.execution_options.get(PREPARE_OPTION):
        return None  # SQLAlchemy executes it as usual
    cursor.execute(statement, parameters, prepare=True)
    return True
