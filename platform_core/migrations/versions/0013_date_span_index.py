"""date search: a GiST index on each date index row's span (PostgreSQL)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21

Date criteria are narrowed by ``span && tstzrange(...)`` on PostgreSQL
(``platform_core.fhir.search.date_span``); this index answers that with a range scan. It needs
the ``btree_gist`` extension (shipped with PostgreSQL's contrib modules, and a trusted
extension since PostgreSQL 13, so the database's owner may create it). Where it cannot be
created the migration leaves the index out with a warning: searches stay correct, only date
ranges stay slower. SQLite is not touched. On a large database, building the index holds a
write lock on ``fhir_ix_date`` for the time it takes.
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

from platform_core.fhir.search.date_span import SPAN_SQL

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

INDEX = "ix_fhir_ix_date_span"
log = logging.getLogger("platform_core.migrations")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist")
    except DBAPIError as exc:
        log.warning("btree_gist is not available (%s): date searches will not use %s", exc, INDEX)
        return
    span = SPAN_SQL.format(low="low", high="high")
    # INCLUDE: the exact conditions and the page's rids come from the index alone (an
    # index-only scan; a birth year at 100k patients: 3.8 -> 1.0 ms).
    conn.exec_driver_sql(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON fhir_ix_date USING gist "
        f"(resource_type, param, ({span})) INCLUDE (rid, low, high)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
