"""exact decimals on SQLite: search-index numbers as order-preserving text keys

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21

PostgreSQL keeps ``numeric`` and is not touched. On SQLite the index's numbers and quantities
were binary doubles; they become the text keys of ``platform_core.db.types.ExactDecimal``.
An existing double is converted through its shortest decimal form (``1.45``), which gives back
the written number whenever it had at most 15 significant digits; a resource with more precise
numbers is exact once it is written again.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import decimal_from_key, decimal_key

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = {
    "fhir_ix_number": ("low", "high"),
    "fhir_ix_quantity": ("low", "high"),
    "fhir_ix_composite": ("c1_low", "c1_high", "c2_low", "c2_high"),
}


def upgrade() -> None:
    _convert("typeof({c}) IN ('real', 'integer')", lambda v: decimal_key(Decimal(repr(v))))


def downgrade() -> None:
    _convert("typeof({c}) = 'text'", lambda key: float(decimal_from_key(key)))


def _convert(where: str, convert: Callable[[Any], Any]) -> None:
    """Rewrite every stored bound matching ``where`` (``{c}`` is the column) as
    ``convert(value)``; SQLite only (PostgreSQL stores NUMERIC either way)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            rows = conn.exec_driver_sql(
                f"SELECT rowid, {column} FROM {table} WHERE {where.format(c=column)}"
            ).all()
            for rowid, value in rows:
                conn.execute(
                    sa.text(f"UPDATE {table} SET {column} = :value WHERE rowid = :rowid"),
                    {"value": convert(value), "rowid": rowid},
                )
