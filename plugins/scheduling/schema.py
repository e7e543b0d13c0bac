"""The scheduling plugin's own tables (Alembic branch ``scheduling``).

The FHIR resources (Schedule, Slot, Appointment) are the record clinics see; these tables
hold what FHIR has no place for (the weekly rules a practitioner publishes, leave) and the
bookkeeping that makes booking race-free: one ``scheduling_slot`` row per generated Slot,
claimed by a single conditional ``UPDATE`` (free -> held), so of N clients racing for a slot
exactly one changes the row and the others find it taken.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime


class RuleRow(Base):
    """A weekly availability rule: on these days, between these local times, slots of this
    length for this service at this location, in this time zone."""

    __tablename__ = "scheduling_rule"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    schedule_id: Mapped[str] = mapped_column(sa.String(64))
    """The FHIR Schedule this rule's slots belong to."""
    location_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    service_code: Mapped[str] = mapped_column(sa.String(64))
    service_display: Mapped[str] = mapped_column(sa.String(200))
    modes: Mapped[str] = mapped_column(sa.String(40))
    """Comma-separated consultation modes: ``in-person``, ``video``."""
    price_amount: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    """The consultation's price in minor units of ``price_currency``; None: free."""
    price_currency: Mapped[str | None] = mapped_column(sa.String(3), nullable=True)
    time_zone: Mapped[str] = mapped_column(sa.String(64))
    weekdays: Mapped[str] = mapped_column(sa.String(20))
    """ISO weekday numbers (1 = Monday), comma-separated."""
    start_minute: Mapped[int] = mapped_column(sa.Integer)
    """Local wall-clock start of the day's availability, in minutes after midnight."""
    end_minute: Mapped[int] = mapped_column(sa.Integer)
    slot_minutes: Mapped[int] = mapped_column(sa.Integer)
    buffer_minutes: Mapped[int] = mapped_column(sa.Integer)
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_until: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LeaveRow(Base):
    """A time a practitioner is away (holiday, leave): no slot is generated in it."""

    __tablename__ = "scheduling_leave"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    practitioner_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlotRow(Base):
    """One generated Slot and who holds it."""

    __tablename__ = "scheduling_slot"
    __table_args__ = (
        sa.UniqueConstraint("practitioner_id", "start", name="uq_scheduling_slot_start"),
        sa.Index("ix_scheduling_slot_free", "practitioner_id", "status", "start"),
        sa.Index("ix_scheduling_slot_hold", "status", "hold_expires_at"),
    )

    slot_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    practitioner_id: Mapped[str] = mapped_column(sa.String(64))
    start: Mapped[datetime] = mapped_column(UTCDateTime)
    end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(12))
    """``free``, ``held`` (a booking waits for payment) or ``busy`` (booked)."""
    appointment_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When a ``held`` slot's payment window ends."""
