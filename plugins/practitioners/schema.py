"""The plugin's tables: applications, specialties (for the directory filter) and credential
documents.

The FHIR resources (Practitioner, PractitionerRole, DocumentReference, Binary) are the truth
about a doctor's details; these rows hold what FHIR has no place for (the application's
status, why, who decided and when) and what the directory and the document checks need to
find quickly. The licence's uniqueness lives here, as a unique constraint, so two sign-ups
with the same licence cannot both commit whatever their timing.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime

PENDING = "pending"
VERIFIED = "verified"
REJECTED = "rejected"
SUSPENDED = "suspended"
STATUSES = (PENDING, VERIFIED, REJECTED, SUSPENDED)
"""An application's states (see docs/practitioners.md for the transitions)."""

DOCUMENT_TYPES = ("licence", "degree", "identity", "other")
"""Kinds of credential document a practitioner uploads."""


class ApplicationRow(Base):
    """A practitioner's application: one per account, one per licence."""

    __tablename__ = "practitioners_application"

    practitioner_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """The ``Practitioner`` resource's id."""
    practitioner_role_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    """The ``auth_user`` account that applied (no foreign key: the core owns accounts)."""
    licence_country: Mapped[str] = mapped_column(sa.String(2))
    """ISO 3166-1 alpha-2, upper case."""
    licence_number: Mapped[str] = mapped_column(sa.String(64))
    """As the practitioner wrote it (trimmed)."""
    licence_key: Mapped[str] = mapped_column(sa.String(64))
    """The number upper-cased without spaces: ``mdcn/12 345`` and ``MDCN/12345`` collide."""
    licence_expires: Mapped[date] = mapped_column(sa.Date)
    display_name: Mapped[str] = mapped_column(sa.String(400))
    """``Dr Amina Bello``."""
    search_name: Mapped[str] = mapped_column(sa.String(400))
    """The name folded (lower case, no accents) for the directory's ``q``."""
    sort_name: Mapped[str] = mapped_column(sa.String(400))
    """Family name then given names, folded: the directory's order."""
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Why it was rejected or suspended."""
    decided_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    """The user id of the admin who made the last decision."""
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the profile was sent, or last re-sent after a rejection."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("licence_country", "licence_key", name="uq_practitioners_licence"),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'suspended')", name="status_known"
        ),
        sa.Index("ix_practitioners_application_status", "status", "submitted_at"),
        sa.Index("ix_practitioners_application_sort", "status", "sort_name"),
    )


class SpecialtyRow(Base):
    """One SNOMED CT specialty code of a practitioner (the directory's ``specialty``)."""

    __tablename__ = "practitioners_specialty"

    practitioner_id: Mapped[str] = mapped_column(
        sa.String(64),
        sa.ForeignKey("practitioners_application.practitioner_id", ondelete="CASCADE"),
        primary_key=True,
    )
    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)

    __table_args__ = (sa.Index("ix_practitioners_specialty_code", "code"),)


class DocumentRow(Base):
    """A credential document: its DocumentReference and the Binary holding the bytes."""

    __tablename__ = "practitioners_document"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """The ``DocumentReference`` id."""
    practitioner_id: Mapped[str] = mapped_column(
        sa.String(64),
        sa.ForeignKey("practitioners_application.practitioner_id", ondelete="CASCADE"),
    )
    binary_id: Mapped[str] = mapped_column(sa.String(64))
    type: Mapped[str] = mapped_column(sa.String(16))
    title: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_practitioners_document_owner", "practitioner_id", "created_at"),)


application_table = ApplicationRow.__table__
specialty_table = SpecialtyRow.__table__
document_table = DocumentRow.__table__
