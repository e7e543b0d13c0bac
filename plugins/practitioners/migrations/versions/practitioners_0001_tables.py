"""practitioners: applications, specialties and credential documents

Revision ID: practitioners_0001
Revises:
Create Date: 2026-11-22

A branch of its own (``practitioners``). ``user_id`` names an ``auth_user`` row without a
foreign key (accounts are the core's); the licence's unique constraint is what makes two
sign-ups with the same licence unable to both commit.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "practitioners_0001"
down_revision = None
branch_labels = ("practitioners",)
depends_on = "0009"


def upgrade() -> None:
    op.create_table(
        "practitioners_application",
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("practitioner_role_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("licence_country", sa.String(2), nullable=False),
        sa.Column("licence_number", sa.String(64), nullable=False),
        sa.Column("licence_key", sa.String(64), nullable=False),
        sa.Column("licence_expires", sa.Date(), nullable=False),
        sa.Column("display_name", sa.String(400), nullable=False),
        sa.Column("search_name", sa.String(400), nullable=False),
        sa.Column("sort_name", sa.String(400), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'suspended')",
            name=op.f("ck_practitioners_application_status_known"),
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_practitioners_application")),
        sa.UniqueConstraint("user_id", name=op.f("uq_practitioners_application_user_id")),
        sa.UniqueConstraint(
            "licence_country", "licence_key", name=op.f("uq_practitioners_licence")
        ),
    )
    op.create_index(
        "ix_practitioners_application_status",
        "practitioners_application",
        ["status", "submitted_at"],
    )
    op.create_index(
        "ix_practitioners_application_sort", "practitioners_application", ["status", "sort_name"]
    )
    op.create_table(
        "practitioners_specialty",
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners_application.practitioner_id"],
            name=op.f("fk_practitioners_specialty_practitioner_id_practitioners_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practitioner_id", "code", name=op.f("pk_practitioners_specialty")),
    )
    op.create_index("ix_practitioners_specialty_code", "practitioners_specialty", ["code"])
    op.create_table(
        "practitioners_document",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("binary_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners_application.practitioner_id"],
            name=op.f("fk_practitioners_document_practitioner_id_practitioners_application"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioners_document")),
    )
    op.create_index(
        "ix_practitioners_document_owner",
        "practitioners_document",
        ["practitioner_id", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_practitioners_document_owner", table_name="practitioners_document")
    op.drop_table("practitioners_document")
    op.drop_index("ix_practitioners_specialty_code", table_name="practitioners_specialty")
    op.drop_table("practitioners_specialty")
    op.drop_index("ix_practitioners_application_sort", table_name="practitioners_application")
    op.drop_index("ix_practitioners_application_status", table_name="practitioners_application")
    op.drop_table("practitioners_application")
