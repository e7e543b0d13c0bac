"""composite search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:51:15.734446
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import platform_core.db.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_ix_composite",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("c0_system", sa.String(length=512), nullable=True),
        sa.Column("c0_code", sa.String(length=512), nullable=True),
        sa.Column("c1_system", sa.String(length=512), nullable=True),
        sa.Column("c1_code", sa.String(length=512), nullable=True),
        sa.Column("c1_text", sa.String(length=512), nullable=True),
        sa.Column("c1_low", sa.Numeric(), nullable=True),
        sa.Column("c1_high", sa.Numeric(), nullable=True),
        sa.Column("c1_dlow", platform_core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("c1_dhigh", platform_core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("c2_low", sa.Numeric(), nullable=True),
        sa.Column("c2_high", sa.Numeric(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_composite_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_composite", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_composite_resource_type_param_c0_code_c1_code",
            ["resource_type", "param", "c0_code", "c1_code"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_composite_rid", ["rid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fhir_ix_composite", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_composite_rid")
        batch_op.drop_index("ix_fhir_ix_composite_resource_type_param_c0_code_c1_code")

    op.drop_table("fhir_ix_composite")
