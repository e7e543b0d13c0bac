"""initial core schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 07:54:49.664569
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import platform_core.db.types

revision = "0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_resource",
        sa.Column(
            "rid",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column(
            "last_updated", platform_core.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", platform_core.db.types.ResourceJSON(), nullable=True),
        sa.PrimaryKeyConstraint("rid", name=op.f("pk_fhir_resource")),
        sa.UniqueConstraint("resource_type", "id", name=op.f("uq_fhir_resource_resource_type_id")),
    )
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_resource_type_updated", ["resource_type", "last_updated"], unique=False
        )

    op.create_table(
        "fhir_ix_date",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("low", platform_core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("high", platform_core.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_date_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_date", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_date_resource_type_param_high",
            ["resource_type", "param", "high"],
            unique=False,
        )
        batch_op.create_index(
            "ix_fhir_ix_date_resource_type_param_low",
            ["resource_type", "param", "low"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_date_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_number",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("low", sa.Numeric(), nullable=True),
        sa.Column("high", sa.Numeric(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_number_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_number", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_number_resource_type_param_low",
            ["resource_type", "param", "low"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_number_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_quantity",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("system", sa.String(length=512), nullable=True),
        sa.Column("code", sa.String(length=256), nullable=True),
        sa.Column("low", sa.Numeric(), nullable=True),
        sa.Column("high", sa.Numeric(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_quantity_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_quantity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_quantity_resource_type_param_code_low",
            ["resource_type", "param", "code", "low"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_quantity_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_reference",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=1024), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_reference_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_reference", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_reference_resource_type_param_target_id_target_type",
            ["resource_type", "param", "target_id", "target_type"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_reference_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_string",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("value_norm", sa.String(length=512), nullable=False),
        sa.Column("value_exact", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_string_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_string", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_string_resource_type_param_value_norm",
            ["resource_type", "param", "value_norm"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_string_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_token",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("system", sa.String(length=512), nullable=True),
        sa.Column("code", sa.String(length=512), nullable=True),
        sa.Column("text", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_token_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_token", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_token_resource_type_param_code_system",
            ["resource_type", "param", "code", "system"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_token_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_ix_uri",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("param", sa.String(length=100), nullable=False),
        sa.Column("uri", sa.String(length=1024), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_ix_uri_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("fhir_ix_uri", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_ix_uri_resource_type_param_uri",
            ["resource_type", "param", "uri"],
            unique=False,
        )
        batch_op.create_index("ix_fhir_ix_uri_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_match_key",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("match_url", sa.Text(), nullable=False),
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", platform_core.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_match_key_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_fhir_match_key")),
    )
    with op.batch_alter_table("fhir_match_key", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_match_key_rid", ["rid"], unique=False)

    op.create_table(
        "fhir_resource_version",
        sa.Column("rid", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column(
            "last_updated", platform_core.db.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", platform_core.db.types.ResourceJSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rid"],
            ["fhir_resource.rid"],
            name=op.f("fk_fhir_resource_version_rid_fhir_resource"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rid", "version_id", name=op.f("pk_fhir_resource_version")),
    )
    with op.batch_alter_table("fhir_resource_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_version_type_updated", ["resource_type", "last_updated"], unique=False
        )
        batch_op.create_index("ix_fhir_version_updated", ["last_updated"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fhir_resource_version", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_version_updated")
        batch_op.drop_index("ix_fhir_version_type_updated")

    op.drop_table("fhir_resource_version")
    with op.batch_alter_table("fhir_match_key", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_match_key_rid")

    op.drop_table("fhir_match_key")
    with op.batch_alter_table("fhir_ix_uri", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_uri_rid")
        batch_op.drop_index("ix_fhir_ix_uri_resource_type_param_uri")

    op.drop_table("fhir_ix_uri")
    with op.batch_alter_table("fhir_ix_token", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_token_rid")
        batch_op.drop_index("ix_fhir_ix_token_resource_type_param_code_system")

    op.drop_table("fhir_ix_token")
    with op.batch_alter_table("fhir_ix_string", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_string_rid")
        batch_op.drop_index("ix_fhir_ix_string_resource_type_param_value_norm")

    op.drop_table("fhir_ix_string")
    with op.batch_alter_table("fhir_ix_reference", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_reference_rid")
        batch_op.drop_index("ix_fhir_ix_reference_resource_type_param_target_id_target_type")

    op.drop_table("fhir_ix_reference")
    with op.batch_alter_table("fhir_ix_quantity", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_quantity_rid")
        batch_op.drop_index("ix_fhir_ix_quantity_resource_type_param_code_low")

    op.drop_table("fhir_ix_quantity")
    with op.batch_alter_table("fhir_ix_number", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_number_rid")
        batch_op.drop_index("ix_fhir_ix_number_resource_type_param_low")

    op.drop_table("fhir_ix_number")
    with op.batch_alter_table("fhir_ix_date", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_ix_date_rid")
        batch_op.drop_index("ix_fhir_ix_date_resource_type_param_low")
        batch_op.drop_index("ix_fhir_ix_date_resource_type_param_high")

    op.drop_table("fhir_ix_date")
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_resource_type_updated")

    op.drop_table("fhir_resource")
