"""Pooled table aliases: distinct within one scope, reused across scopes, fresh outside."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from platform_core.db import aliases
from platform_core.db.schema import INDEX_TABLES, resource_table

TOKEN = INDEX_TABLES["token"]


def test_one_scope_never_gets_the_same_alias_twice() -> None:
    with aliases.statements():
        lent = [aliases.alias(TOKEN) for _ in range(5)]
        other = aliases.alias(resource_table)
    assert len({id(a) for a in lent}) == 5
    assert all(a.element is TOKEN for a in lent)
    assert other.element is resource_table


def test_later_scopes_reuse_the_pooled_aliases() -> None:
    with aliases.statements():
        first = [aliases.alias(TOKEN) for _ in range(3)]
    with aliases.statements():
        second = [aliases.alias(TOKEN) for _ in range(3)]
    assert [id(a) for a in first] == [id(a) for a in second]


def test_a_nested_scope_continues_the_outer_one() -> None:
    with aliases.statements():
        outer = aliases.alias(TOKEN)
        with aliases.statements():
            inner = aliases.alias(TOKEN)
    assert inner is not outer


def test_outside_a_scope_and_past_the_pool_each_alias_is_new() -> None:
    assert aliases.alias(TOKEN) is not aliases.alias(TOKEN)
    with aliases.statements():
        lent = [aliases.alias(TOKEN) for _ in range(aliases.MAX_POOLED + 3)]
    assert len({id(a) for a in lent}) == aliases.MAX_POOLED + 3


def test_threads_have_scopes_of_their_own() -> None:
    seen: dict[str, list[int]] = {}

    def lend(name: str) -> None:
        with aliases.statements():
            seen[name] = [id(aliases.alias(TOKEN)) for _ in range(3)]

    threads = [threading.Thread(target=lend, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each thread's scope starts at the beginning of the pool: the same three aliases.
    assert seen["a"] == seen["b"]
    assert len(set(seen["a"])) == 3


def test_pooled_aliases_in_nested_subqueries_render_apart() -> None:
    """Two subqueries on one table in one statement keep their own FROM (no correlation)."""
    with aliases.statements():
        outer, inner = aliases.alias(TOKEN), aliases.alias(TOKEN)
        stmt = sa.select(resource_table.c.rid).where(
            resource_table.c.rid.in_(
                sa.select(outer.c.rid).where(
                    outer.c.code == "a",
                    outer.c.rid.in_(sa.select(inner.c.rid).where(inner.c.code == "b")),
                )
            )
        )
    sql = str(stmt.compile())
    assert sql.count("FROM fhir_ix_token AS") == 2
