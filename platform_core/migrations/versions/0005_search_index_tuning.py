"""search index tuning: covering indexes ending in rid, prefix index for strings

Measured with ``bench/search.py`` at one million resources (docs/benchmarks.md#search):
token and reference lookups end in ``rid`` so a page can be answered from the index alone;
string prefixes need ``varchar_pattern_ops`` on PostgreSQL to use the index under a non-C
collation; date ranges carry ``high`` and ``rid`` in the ``low`` index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fhir_ix_token") as batch:
        batch.drop_index("ix_fhir_ix_token_resource_type_param_code_system")
        batch.create_index(
            "ix_fhir_ix_token_resource_type_param_code_system_rid",
            ["resource_type", "param", "code", "system", "rid"],
        )
    with op.batch_alter_table("fhir_ix_reference") as batch:
        batch.drop_index("ix_fhir_ix_reference_resource_type_param_target_id_target_type")
        batch.create_index(
            "ix_fhir_ix_reference_type_param_target_rid",
            ["resource_type", "param", "target_id", "target_type", "rid"],
        )
    with op.batch_alter_table("fhir_ix_date") as batch:
        batch.drop_index("ix_fhir_ix_date_resource_type_param_low")
        batch.create_index(
            "ix_fhir_ix_date_resource_type_param_low_high_rid",
            ["resource_type", "param", "low", "high", "rid"],
        )
    with op.batch_alter_table("fhir_ix_string") as batch:
        batch.drop_index("ix_fhir_ix_string_resource_type_param_value_norm")
        batch.create_index(
            "ix_fhir_ix_string_resource_type_param_value_exact",
            ["resource_type", "param", "value_exact"],
        )
        batch.create_index(
            "ix_fhir_ix_string_prefix",
            ["resource_type", "param", "value_norm", "rid"],
            postgresql_ops={"value_norm": "varchar_pattern_ops"},
        )


def downgrade() -> None:
    with op.batch_alter_table("fhir_ix_string") as batch:
        batch.drop_index("ix_fhir_ix_string_prefix")
        batch.drop_index("ix_fhir_ix_string_resource_type_param_value_exact")
        batch.create_index(
            "ix_fhir_ix_string_resource_type_param_value_norm",
            ["resource_type", "param", "value_norm"],
        )
    with op.batch_alter_table("fhir_ix_date") as batch:
        batch.drop_index("ix_fhir_ix_date_resource_type_param_low_high_rid")
        batch.create_index(
            "ix_fhir_ix_date_resource_type_param_low", ["resource_type", "param", "low"]
        )
    with op.batch_alter_table("fhir_ix_reference") as batch:
        batch.drop_index("ix_fhir_ix_reference_type_param_target_rid")
        batch.create_index(
            "ix_fhir_ix_reference_resource_type_param_target_id_target_type",
            ["resource_type", "param", "target_id", "target_type"],
        )
    with op.batch_alter_table("fhir_ix_token") as batch:
        batch.drop_index("ix_fhir_ix_token_resource_type_param_code_system_rid")
        batch.create_index(
            "ix_fhir_ix_token_resource_type_param_code_system",
            ["resource_type", "param", "code", "system"],
        )
