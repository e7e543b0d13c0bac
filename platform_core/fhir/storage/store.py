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


def read_current(
    conn: Connection, resource_type: str, resource_id: str, *, for_update: bool = False
) -> StoredResource | None:
    """The current row of a resource (deleted or not), or None if it never existed."""
    if not for_update and conn.dialect.name == "postgresql":
        # The hottest query of the server: plain driver SQL skips statement compilation and
        # result processing (psycopg already returns aware datetimes and text).
        row = conn.exec_driver_sql(_PG_READ_CURRENT, {"t": resource_type, "i": resource_id}).first()
        return _current(row) if row else None
    stmt = _READ_CURRENT
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt, {"rtype": resource_type, "rid_text": resource_id}).first()
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
        for rows in index.values():
            for row in rows:
                row["rid"] = stored.rid
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
    for kind, rows in index.items():
        if not rows:
            continue
        table = INDEX_TABLES[kind].name
        columns = [c.split()[0] for c in _RECORD_TYPES[kind].split(", ")]
        params[kind] = jsonio.dumps([{c: row[c] for c in columns} for row in rows]).decode()
        names = ", ".join(columns)
        ctes.append(
            f"{kind} AS (INSERT INTO {table} (rid, {names}) SELECT r.rid, {names}"
            f" FROM r, jsonb_to_recordset(%({kind})s::jsonb) AS x({_RECORD_TYPES[kind]}))"
        )
    sql = "WITH " + ", ".join(ctes) + " SELECT rid FROM r"
    rid = conn.exec_driver_sql(sql, params).scalar_one()
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
        sa.insert(resource_table).returning(R.rid, sort_by_parameter_order=True),
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
        sa.insert(version_table),
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
    stored = StoredResource(
        previous.rid,
        previous.resource_type,
        previous.id,
        next_version,
        last_updated,
        content is None,
        content,
    )
    _insert_version(conn, stored, method)
    return stored


def _insert_version(conn: Connection, stored: StoredResource, method: str) -> None:
    conn.execute(sa.insert(version_table).values(**_version_row(stored, method)))


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
        if not values:
            continue
        table = INDEX_TABLES[kind]
        if len(values) > COPY_THRESHOLD and conn.dialect.name == "postgresql":
            _copy_rows(conn, table, values)
        else:
            conn.execute(sa.insert(table), values)


COPY_THRESHOLD = 20
"""From how many rows a PostgreSQL insert uses COPY instead of a pipelined executemany."""


def _copy_rows(conn: Connection, table: sa.Table, values: list[dict[str, Any]]) -> None:
    """Bulk-insert with PostgreSQL's COPY, inside the connection's current transaction."""
    columns = list(values[0])
    names = ", ".join(columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
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
