"""date search: the GiST span index keeps only the wide rows (PostgreSQL)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

A date lookup now reads narrow rows (both ends known, at most a day apart: dates, instants,
most periods) by a window on ``low`` in the B-tree ``(resource_type, param, low, high, rid)``,
which is about four times cheaper per row than the GiST, and only the other rows through the
span's overlap (``platform_core.fhir.search.date_span``). So the GiST index becomes partial:
it holds the wide rows alone, which also spares every write of a narrow date its GiST
insert. Without ``btree_gist`` (migration 0013 then left the index out) nothing changes here.
SQLite is not touched.
"""

from __future__ import annotations

from alembic import op

from platform_core.fhir.search.date_span import SPAN_SQL, WIDE_SQL

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FULL = "ix_fhir_ix_date_span"
WIDE = "ix_fhir_ix_date_span_wide"


def _has_btree_gist() -> bool:
    conn = op.get_bind()
    found = conn.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'btree_gist'")
    return found.first() is not None


def _create(name: str, where: str) -> None:
    span = SPAN_SQL.format(low="low", high="high")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS {name} ON fhir_ix_date USING gist "
        f"(resource_type, param, ({span})) INCLUDE (rid, low, high){where}"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql" or not _has_btree_gist():
        return
    _create(WIDE, " WHERE " + WIDE_SQL.format(low="low", high="high"))
    op.execute(f"DROP INDEX IF EXISTS {FULL}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql" or not _has_btree_gist():
        return
    _create(FULL, "")
    op.execute(f"DROP INDEX IF EXISTS {WIDE}")
