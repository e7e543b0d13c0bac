"""reviews: the review table

Revision ID: reviews_0001
Revises:
Create Date: 2026-11-21

A branch of its own (``reviews``). Nothing refers to other tables: the appointment,
practitioner and patient are FHIR ids, the author and the hiding admin account ids. The
unique ``appointment_id`` keeps one review per appointment even when two arrive at once;
the partial index serves the public listings and the directory's ratings, which read only
visible reviews.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from platform_core.db.types import UTCDateTime

revision = "reviews_0001"
down_revision = None
branch_labels = ("reviews",)
depends_on = "0009"

VISIBLE = sa.text("hidden_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "reviews_review",
        sa.Column("id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("practitioner_id", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("author_user_id", sa.String(36), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("hidden_at", UTCDateTime(), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("hidden_by", sa.String(36), nullable=True),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_reviews_review_stars_range")),
        sa.CheckConstraint("length(text) <= 2000", name=op.f("ck_reviews_review_text_length")),
        sa.CheckConstraint(
            "(hidden_at IS NULL) = (hidden_reason IS NULL)",
            name=op.f("ck_reviews_review_hidden_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews_review")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_reviews_review_appointment_id")),
    )
    op.create_index("ix_reviews_review_patient_id", "reviews_review", ["patient_id"])
    op.create_index("ix_reviews_review_author_user_id", "reviews_review", ["author_user_id"])
    op.create_index(
        "ix_reviews_review_visible",
        "reviews_review",
        ["practitioner_id", "created_at"],
        postgresql_where=VISIBLE,
        sqlite_where=VISIBLE,
    )


def downgrade() -> None:
    op.drop_index("ix_reviews_review_visible", table_name="reviews_review")
    op.drop_index("ix_reviews_review_author_user_id", table_name="reviews_review")
    op.drop_index("ix_reviews_review_patient_id", table_name="reviews_review")
    op.drop_table("reviews_review")
