"""custom composite search parameters: their components

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON list of [component type, expression] pairs of a custom composite parameter.
    with op.batch_alter_table("fhir_search_param") as batch:
        batch.add_column(sa.Column("components", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fhir_search_param") as batch:
        batch.drop_column("components")
