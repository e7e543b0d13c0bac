"""The reviews plugin's one table, ``reviews_review`` (migration ``reviews_0001``).

One row per reviewed appointment: the unique ``appointment_id`` is what makes "one review
per appointment" hold under concurrent posts (the second insert fails, it is not checked
first and then written). The practitioner and patient are copied from the Appointment when
the review is written, so listings and ratings never read FHIR resources. A hidden review
keeps its row (``hidden_at``, ``hidden_reason``, ``hidden_by``) so an admin can undo it;
public listings and ratings read only visible rows, through a partial index.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime

MIN_STARS = 1
MAX_STARS = 5
MAX_TEXT_CHARS = 2000
"""Longest review text, in characters (checked by the API and by the database)."""
VISIBLE = sa.text("hidden_at IS NULL")


class ReviewRow(Base):
    """One patient's (or guardian's) review of one fulfilled appointment."""

    __tablename__ = "reviews_review"

    id: Mapped[str] = mapped_column(sa.Uuid(as_uuid=False), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    """The reviewed ``Appointment`` (plain FHIR id); unique: one review per appointment."""
    practitioner_id: Mapped[str] = mapped_column(sa.String(64))
    """The appointment's ``Practitioner`` (plain FHIR id)."""
    patient_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    """The appointment's ``Patient`` (plain FHIR id): the child when a guardian reviews."""
    author_user_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    """The account that wrote the review (the patient or the guardian)."""
    stars: Mapped[int] = mapped_column(sa.SmallInteger)
    text: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Plain text as given (surrounding whitespace stripped); None when none was given."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hidden_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hidden_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    hidden_by: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    """The admin account that hid the review."""

    __table_args__ = (
        sa.CheckConstraint(f"stars BETWEEN {MIN_STARS} AND {MAX_STARS}", name="stars_range"),
        sa.CheckConstraint(f"length(text) <= {MAX_TEXT_CHARS}", name="text_length"),
        sa.CheckConstraint("(hidden_at IS NULL) = (hidden_reason IS NULL)", name="hidden_reason"),
        sa.Index(
            "ix_reviews_review_visible",
            "practitioner_id",
            "created_at",
            postgresql_where=VISIBLE,
            sqlite_where=VISIBLE,
        ),
    )


review_table: sa.Table = ReviewRow.__table__  # type: ignore[assignment]
