"""SQL for resources and their versions.

Every function takes an open SQLAlchemy connection (the caller owns the transaction) and does
one thing. Writes keep ``fhir_resource`` (current) and ``fhir_resource_version`` (all versions)
in step; a version is only ever inserted, never changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from platform_core.db.prepared import prepare_options
from platform_core.db.schema import INDEX_TABLES, match_key_table, resource_table, version_table
from platform_core.fhir import jsonio
from platform_core.fhir.storage.records import StoredResource

R = resource_table.c
V = version_table.c

_CURRENT_COLS = (R.rid, R.resource_type, R.id, R.version_id, R.last_updated, R.deleted, R.content)
_VERSION_COLS = (
    V.rid,
    V.resource_type,
    V.id,
    V.version_id,
    V.last_updated,
    V.deleted,
    V.content,
    V.method,
)

_READ_CURRENT = sa.select(*_CURRENT_COLS).where(
    R.resource_type == sa.bindparam("rtype"), R.id == sa.bindparam("rid_text")
)


def _current(row: Any) -> StoredResource:
    return StoredResource(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _version(row: Any) -> StoredResource:
    return StoredResource(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])


_PG_READ_CURRENT = (
    "SELECT rid, resource_type, id, version_id, last_updated, deleted, content "
    "FROM fhir_resource WHERE resource_type = %(t)s AND id = %(i)s"
)


_PREPARED = prepare_options(generic=False)
"""Writes and key lookups: their plans never depend on the values, so PostgreSQL keeps one
generic plan per prepared statement (:mod:`platform_core.db.prepared`)."""


def read_current(
    conn: Connection, resource_type: str, resource_id: str, *, for_update: bool = False
) -> StoredResource | None:
    """The current row of a resource (deleted or not), or None if it never existed;
    ``for_update`` locks it (PostgreSQL) for the rest of the transaction."""
    if conn.dialect.name == "postgresql":
        # The hottest query of the server: plain driver SQL skips statement compilation and
        # result processing (psycopg already returns aware datetimes and text), and a
        # prepared statement skips parsing and planning a unique-key lookup.
        sql = _PG_READ_CURRENT + " FOR UPDATE" if for_update else _PG_READ_CURRENT
        params = {"t": resource_type, "i": resource_id}
        row = conn.exec_driver_sql(sql, params, execution_options=_PREPARED).first()
        return _current(row) if row else None
    row = conn.execute(_READ_CURRENT, {"rtype": resource_type, "rid_text": resource_id}).first()
    return _current(row) if row else None


def read_version(
    conn: Connection, resource_type: str, resource_id: str, version_id: int
) -> StoredResource | None:
    """One version of a resource, or None."""
    row = conn.execute(
        sa.select(*_VERSION_COLS).where(
            V.resource_type == resource_type, V.id == resource_id, V.version_id == version_id
        )
    ).first()
    return _version(row) if row else None


def read_many(conn: Connection, rids: list[int]) -> dict[int, StoredResource]:
    """Current rows by surrogate key."""
    if not rids:
        return {}
    rows = conn.execute(sa.select(*_CURRENT_COLS).where(R.rid.in_(rids)))
    return {row[0]: _current(row) for row in rows}


def insert_new(
    conn: Connection,
    resource_type: str,
    resource_id: str,
    last_updated: datetime,
    content: str,
    method: str,
) -> StoredResource:
    """Insert the first version of a new resource; raises IntegrityError if the id is taken."""
    rid = conn.execute(
        sa.insert(resource_table)
        .values(
            resource_type=resource_type,
            id=resource_id,
            version_id=1,
            last_updated=last_updated,
            deleted=False,
            content=content,
        )
        .returning(R.rid)
    ).scalar_one()
    stored = StoredResource(rid, resource_type, resource_id, 1, last_updated, False, content)
    _insert_version(conn, stored, method)
    return stored


_RECORD_TYPES = {
    "token": "resource_type text, param text, system text, code text, text text",
    "string": "resource_type text, param text, value_norm text, value_exact text",
    "date": "resource_type text, param text, low timestamptz, high timestamptz",
    "number": "resource_type text, param text, low numeric, high numeric",
    "quantity": "resource_type text, param text, system text, code text, low numeric, high numeric",
    "reference": "resource_type text, param text, target_type text, target_id text, url text",
    "uri": "resource_type text, param text, uri text",
    "composite": "resource_type text, param text, c0_system text, c0_code text, "
    "c1_system text, c1_code text, c1_text text, c1_low numeric, c1_high numeric, "
    "c1_dlow timestamptz, c1_dhigh timestamptz, c2_low numeric, c2_high numeric",
    "special": "resource_type text, param text, latitude numeric, longitude numeric",
}
"""Column types of each index table, for ``jsonb_to_recordset``."""


def insert_new_indexed(
    conn: Connection,
    resource_type: str,
    resource_id: str,
    last_updated: datetime,
    content: str,
    method: str,
    index: dict[str, list[dict[str, Any]]],
) -> StoredResource:
    """Insert a new resource, its first version and its index rows (whose ``rid`` is filled
    in here). On PostgreSQL this is one statement, so one round trip: data-modifying CTEs
    insert the resource, the version and every index table's rows together."""
    if conn.dialect.name != "postgresql":
        stored = insert_new(conn, resource_type, resource_id, last_updated, content, method)
        _fill_rid(index, stored.rid)
        insert_index_rows(conn, index)
        return stored
    params: dict[str, Any] = {
        "t": resource_type,
        "i": resource_id,
        "ts": last_updated,
        "c": content,
        "m": method,
    }
    ctes = [
        "r AS (INSERT INTO fhir_resource (resource_type, id, version_id, last_updated, deleted,"
        " content) VALUES (%(t)s, %(i)s, 1, %(ts)s, false, %(c)s) RETURNING rid)",
        "v AS (INSERT INTO fhir_resource_version (rid, version_id, resource_type, id,"
        " last_updated, method, deleted, content)"
        " SELECT rid, 1, %(t)s, %(i)s, %(ts)s, %(m)s, false, %(c)s FROM r)",
    ]
    ctes.extend(_index_ctes(index, params, "r"))
    sql = "WITH " + ", ".join(ctes) + " SELECT rid FROM r"
    rid = conn.exec_driver_sql(sql, params, execution_options=_PREPARED).scalar_one()
    return StoredResource(rid, resource_type, resource_id, 1, last_updated, False, content)


def insert_new_many(
    conn: Connection,
    items: list[tuple[str, str, datetime, str]],
    method: str,
) -> list[StoredResource]:
    """Insert first versions of several new resources ((type, id, lastUpdated, content)),
    with one multi-row statement per table; returns them in input order."""
    if not items:
        return []
    if conn.dialect.name == "postgresql" and len(items) > COPY_THRESHOLD:
        return _copy_new(conn, items, method)
    result = conn.execute(
        sa.insert(resource_table)
        .returning(R.rid, sort_by_parameter_order=True)
        .execution_options(**_PREPARED),
        [
            {
                "resource_type": rtype,
                "id": rid_text,
                "version_id": 1,
                "last_updated": when,
                "deleted": False,
                "content": content,
            }
            for rtype, rid_text, when, content in items
        ],
    )
    rids = [row[0] for row in result]
    stored = [
        StoredResource(rid, rtype, rid_text, 1, when, False, content)
        for rid, (rtype, rid_text, when, content) in zip(rids, items, strict=True)
    ]
    conn.execute(
        sa.insert(version_table).execution_options(**_PREPARED),
        [_version_row(s, method) for s in stored],
    )
    return stored


def _copy_new(
    conn: Connection, items: list[tuple[str, str, datetime, str]], method: str
) -> list[StoredResource]:
    """PostgreSQL: take ``rid`` values from the sequence, then COPY both tables."""
    rids = conn.execute(
        sa.text("SELECT nextval('fhir_resource_rid_seq') FROM generate_series(1, :n)"),
        {"n": len(items)},
    ).scalars()
    stored = [
        StoredResource(rid, rtype, rid_text, 1, when, False, content)
        for rid, (rtype, rid_text, when, content) in zip(rids, items, strict=True)
    ]
    _copy_rows(
        conn,
        resource_table,
        [
            {
                "rid": s.rid,
                "resource_type": s.resource_type,
                "id": s.id,
                "version_id": s.version_id,
                "last_updated": s.last_updated,
                "deleted": s.deleted,
                "content": s.content,
            }
            for s in stored
        ],
    )
    _copy_rows(
        conn,
        version_table,
        [_version_row(s, method) for s in stored],
    )
    return stored


def insert_next_version(
    conn: Connection,
    previous: StoredResource,
    last_updated: datetime,
    content: str | None,
    method: str,
) -> StoredResource:
    """Write the version after ``previous`` (``content`` None marks a delete).

    The update is guarded by the previous version number, and the version row's primary key
    is (rid, version): a concurrent writer of the same version fails with an IntegrityError or
    an empty update, which the caller turns into a conflict.
    """
    next_version = previous.version_id + 1
    result = conn.execute(
        sa.update(resource_table)
        .where(R.rid == previous.rid, R.version_id == previous.version_id)
        .values(
            version_id=next_version,
            last_updated=last_updated,
            deleted=content is None,
            content=content,
        )
    )
    if result.rowcount != 1:
        raise StaleVersionError(previous.reference, previous.version_id)
    stored = _next_version(previous, next_version, last_updated, content)
    _insert_version(conn, stored, method)
    return stored


def _next_version(
    previous: StoredResource, version: int, last_updated: datetime, content: str | None
) -> StoredResource:
    """``previous``'s next version as written (``content`` None: a delete)."""
    return StoredResource(
        previous.rid,
        previous.resource_type,
        previous.id,
        version,
        last_updated,
        content is None,
        content,
    )


def write_next_version_indexed(
    conn: Connection,
    previous: StoredResource,
    last_updated: datetime,
    content: str | None,
    method: str,
    index: dict[str, list[dict[str, Any]]],
) -> StoredResource:
    """Write the version after ``previous`` and replace its search-index rows.

    ``content`` None marks a delete (``index`` is then empty); ``index`` holds the rows of
    the new version, keyed by index kind, without ``rid`` (filled in here). The effect is
    :func:`insert_next_version`, then :func:`delete_index_rows` of every kind, then
    :func:`insert_index_rows`; it raises :class:`StaleVersionError` the same way when
    ``previous`` is no longer the current version, and then writes nothing. On PostgreSQL
    it is ONE statement (one round trip instead of eleven plus one per kind of index row):
    data-modifying CTEs update the current row guarded by the previous version number,
    and only if that matched, insert the version row, delete the old index rows and insert
    the new ones (all sub-statements see the same snapshot, so the deletes never see the
    new rows).
    """
    if conn.dialect.name != "postgresql":
        stored = insert_next_version(conn, previous, last_updated, content, method)
        delete_index_rows(conn, stored.rid, INDEX_TABLES)
        _fill_rid(index, stored.rid)
        insert_index_rows(conn, index)
        return stored
    next_version = previous.version_id + 1
    params: dict[str, Any] = {
        "rid": previous.rid,
        "pv": previous.version_id,
        "nv": next_version,
        "t": previous.resource_type,
        "i": previous.id,
        "ts": last_updated,
        "d": content is None,
        "c": content,
        "m": method,
    }
    ctes = [
        "u AS (UPDATE fhir_resource SET version_id = %(nv)s, last_updated = %(ts)s,"
        " deleted = %(d)s, content = %(c)s WHERE rid = %(rid)s AND version_id = %(pv)s"
        " RETURNING rid)",
        "v AS (INSERT INTO fhir_resource_version (rid, version_id, resource_type, id,"
        " last_updated, method, deleted, content)"
        " SELECT rid, %(nv)s, %(t)s, %(i)s, %(ts)s, %(m)s, %(d)s, %(c)s FROM u)",
    ]
    for kind, table in INDEX_TABLES.items():
        ctes.append(
            f"d_{kind} AS (DELETE FROM {table.name}"
            " WHERE rid = %(rid)s AND EXISTS (SELECT 1 FROM u))"
        )
    ctes.extend(_index_ctes(index, params, "u"))
    sql = "WITH " + ", ".join(ctes) + " SELECT count(*) FROM u"
    if conn.exec_driver_sql(sql, params, execution_options=_PREPARED).scalar_one() != 1:
        raise StaleVersionError(previous.reference, previous.version_id)
    return _next_version(previous, next_version, last_updated, content)


def _fill_rid(index: dict[str, list[dict[str, Any]]], rid: int) -> None:
    for rows in index.values():
        for row in rows:
            row["rid"] = rid


def _index_ctes(
    index: dict[str, list[dict[str, Any]]], params: dict[str, Any], source: str
) -> list[str]:
    """CTEs inserting ``index`` rows for the ``rid`` that CTE ``source`` returns (the rows
    travel as one JSON parameter per kind, unpacked by ``jsonb_to_recordset``)."""
    ctes = []
    for kind, rows in index.items():
        if not rows:
            continue
        table = INDEX_TABLES[kind].name
        columns = [c.split()[0] for c in _RECORD_TYPES[kind].split(", ")]
        params[kind] = jsonio.dumps([{c: row[c] for c in columns} for row in rows]).decode()
        names = ", ".join(columns)
        ctes.append(
            f"{kind} AS (INSERT INTO {table} (rid, {names}) SELECT {source}.rid, {names}"
            f" FROM {source}, jsonb_to_recordset(%({kind})s::jsonb) AS x({_RECORD_TYPES[kind]}))"
        )
    return ctes


def _insert_version(conn: Connection, stored: StoredResource, method: str) -> None:
    row = _version_row(stored, method)
    conn.execute(sa.insert(version_table).execution_options(**_PREPARED), row)


def _version_row(stored: StoredResource, method: str) -> dict[str, Any]:
    """The ``fhir_resource_version`` row of a stored version."""
    return {
        "rid": stored.rid,
        "version_id": stored.version_id,
        "resource_type": stored.resource_type,
        "id": stored.id,
        "last_updated": stored.last_updated,
        "method": method,
        "deleted": stored.deleted,
        "content": stored.content,
    }


def delete_index_rows(conn: Connection, rid: int, kinds: Iterable[str]) -> None:
    """Remove the search-index rows of a resource from the tables of ``kinds``."""
    for kind in kinds:
        table = INDEX_TABLES[kind]
        conn.execute(sa.delete(table).where(table.c.rid == rid))


def insert_index_rows(conn: Connection, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Insert index rows, grouped by parameter type (COPY on PostgreSQL for many rows)."""
    for kind, values in rows.items():
        bulk_insert(conn, INDEX_TABLES[kind], values)


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys, every value already what the column
    stores: aware datetimes, no column defaults applied) into ``table`` in the caller's
    transaction: with COPY on PostgreSQL from :data:`COPY_THRESHOLD` rows on, else one
    executemany. For rows the server builds in bulk (index rows, generated bookkeeping)."""
    if not rows:
        return
    if len(rows) > COPY_THRESHOLD and conn.dialect.name == "postgresql":
        _copy_rows(conn, table, rows)
    else:
        conn.execute(sa.insert(table).execution_options(**_PREPARED), rows)


COPY_THRESHOLD = 20
"""From how many rows a PostgreSQL insert uses COPY instead of a pipelined executemany."""


def _copy_rows(conn: Connection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    """Bulk-insert with PostgreSQL's COPY, inside the connection's current transaction."""
    columns = list(values[0])
    quote = conn.dialect.identifier_preparer.quote  # ("end" is a reserved word)
    names = ", ".join(quote(c) for c in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy:
        for row in values:
            copy.write_row([row[c] for c in columns])


def delete_match_keys(conn: Connection, rid: int) -> None:
    """Forget the conditional-create claims of a resource."""
    conn.execute(sa.delete(match_key_table).where(match_key_table.c.rid == rid))


class StaleVersionError(Exception):
    """Another writer changed the resource between our read and our write."""

    def __init__(self, reference: str, version_id: int) -> None:
        super().__init__(f"{reference} changed after version {version_id} was read")
        self.reference = reference
        self.version_id = version_id
