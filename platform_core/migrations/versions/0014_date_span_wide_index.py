"""date search: a partial GiST index on the spans of the wide date rows (PostgreSQL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

A date lookup for a bounded interval of at most a year now reads the narrow rows (both ends
known, at most a day apart: dates, instants, most visits) by a window on ``low`` in the
B-tree ``(resource_type, param, low, high, rid)``, about four times cheaper per row than the
GiST, and only the other rows by the span's overlap
(``platform_core.fhir.search.date_span``). This index holds just those other rows, so that
part reads only them (18,936 of 664,042 date rows at 50k patients: 2.7 MB against the full
index's 93). Open and longer intervals still use ``ix_fhir_ix_date_span``. Without
``btree_gist`` (migration 0013 then left the span index out) nothing is created. SQLite is
not touched.
"""

from __future__ import annotations

from alembic import op

from platform_core.fhir.search.date_span import SPAN_SQL, WIDE_SQL

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEX = "ix_fhir_ix_date_span_wide"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    found = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
    if found.first() is None:
        return
    span = SPAN_SQL.format(low="low", high="high")
    wide = WIDE_SQL.format(low="low", high="high")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON fhir_ix_date USING gist "
        f"(resource_type, param, ({span})) INCLUDE (rid, low, high) WHERE {wide}"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
