"""Readable invoice numbers, ``INV-<YYYY>-<NNNNNN>``, from a counter row per year.

:func:`lock_year` makes sure the year's row exists (an insert that does nothing when a
concurrent transaction made it first) and locks it (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the write transaction, begun with ``BEGIN IMMEDIATE``, already excludes
every other writer). From then until the transaction ends, issuing is serialised: the issuer
checks once more that the appointment has no invoice, then :func:`next_number` increments
the row with ``UPDATE ... RETURNING``. The counter commits or rolls back together with the
invoice, so numbers are unique and have no gaps.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from plugins.invoicing.schema import CounterRow

_COUNTER = CounterRow.__table__
PREFIX = "INV"


def format_number(year: int, n: int) -> str:
    """``INV-2026-000042`` (more digits once a year passes 999,999 invoices)."""
    return f"{PREFIX}-{year:04d}-{n:06d}"


def lock_year(conn: Connection, year: int) -> None:
    """Create the counter row of ``year`` if needed and lock it until the transaction ends."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(_COUNTER)
        .values(year=year, n=0)
        .on_conflict_do_nothing(index_elements=[_COUNTER.c.year])
    )
    conn.execute(sa.select(_COUNTER.c.n).where(_COUNTER.c.year == year).with_for_update())


def next_number(conn: Connection, year: int) -> str:
    """The next number of ``year`` (call :func:`lock_year` first in the same transaction)."""
    n = conn.execute(
        sa.update(_COUNTER)
        .where(_COUNTER.c.year == year)
        .values(n=_COUNTER.c.n + 1)
        .returning(_COUNTER.c.n)
    ).scalar_one()
    return format_number(year, n)
