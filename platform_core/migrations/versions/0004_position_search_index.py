"""position search index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:02:31.269103
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_ix_position",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("latitude", sa.Numeric(), nullable=False),
        sa.Column("longitude", sa.Numeric(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_position_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_position", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_position_resource_type_param_latitude_longitude",
            ["resource_type", "param", "latitude", "longitude"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_position_rid", ["rid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fhir_ix_position", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_position_rid")
        batch_op.drop_index("ix_fhir_ix_position_resource_type_param_latitude_longitude")

    op.drop_table("fhir_ix_position")
