"""Table aliases for the statements a search builds, made once and lent out per statement.

A search's SQL names an index table or the resource table under an alias in each subquery
(``rid IN (SELECT rid FROM fhir_ix_token AS t WHERE ...)``), so that a subquery never
correlates with an enclosing query on the same table. Making an alias is costly in
SQLAlchemy (a proxy of every column: 100-250 µs for an index table, measured on the
development VM), and a search needs one to four: a sizeable share of a search's CPU.

Inside :func:`statements`, :func:`alias` lends each call a different alias of the table,
taken from a pool that later scopes reuse: aliases are immutable and render their
anonymous names per statement, so reuse across statements is safe, while distinct aliases
within one scope keep every subquery's FROM its own. Outside a scope, :func:`alias` makes a
new alias each time, as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sqlalchemy as sa

MAX_POOLED = 64
"""Aliases kept per table. A scope that needs more (a search with dozens of criteria on one
kind of index) gets fresh ones for the rest."""

_pools: dict[str, list[sa.Alias]] = {}
_lent: ContextVar[dict[str, int] | None] = ContextVar("fireside_aliases_lent", default=None)


@contextmanager
def statements() -> Iterator[None]:
    """Lend pooled aliases to the statements built inside: each :func:`alias` call in the
    scope gets one no other call in it got. Nested scopes share their outermost one."""
    if _lent.get() is not None:
        yield
        return
    token = _lent.set({})
    try:
        yield
    finally:
        _lent.reset(token)


def alias(table: sa.Table) -> sa.Alias:
    """An anonymous alias of ``table`` that no other call in this scope returned."""
    lent = _lent.get()
    if lent is None:
        return table.alias()
    number = lent.get(table.name, 0)
    if number >= MAX_POOLED:
        return table.alias()
    lent[table.name] = number + 1
    pool = _pools.setdefault(table.name, [])
    while len(pool) <= number:  # threads may race here: at worst a spare alias is made
        made = table.alias()
        made.c  # noqa: B018 - build the column proxies once, not on first use
        pool.append(made)
    return pool[number]
