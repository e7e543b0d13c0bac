"""The notifications plugin's tables (created by its Alembic branch ``notifications``).

* ``notifications_preference``: one row per user who saved preferences (a user without one
  gets the defaults): language, time zone, phone, the channels they want, the events they
  opted out of.
* ``notifications_device``: push registration tokens; a token belongs to one user at a time
  (a phone that changes hands moves to its new owner).
* ``notifications_delivery``: the delivery log. One row per message meant to go out, written
  ``queued`` in the transaction that enqueues its ``notifications.deliver`` job, then ``sent``
  or ``failed``. Its unique ``key`` makes a repeated event deliver once, even after the
  outbox purged the job that first sent it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.auth.schema import UserRow  # noqa: F401  (auth_user, the tables' parent)
from platform_core.db.schema import Base
from platform_core.db.types import BigIntPK, UTCDateTime

KEY_LENGTH = 255
TOKEN_LENGTH = 512
"""Longest push registration token accepted (FCM's are about 160 characters)."""


class PreferenceRow(Base):
    """How one user wants to be told."""

    __tablename__ = "notifications_preference"

    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str | None] = mapped_column(sa.String(8), nullable=True)
    """None: ``notifications_default_language``."""
    time_zone: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """An IANA zone; None: ``notifications_default_time_zone``."""
    phone: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    """E.164 (``+2348012345678``); None: no SMS."""
    email_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    sms_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    push_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    opted_out_events: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    """Event names (``catalog.EVENTS``) the user wants no message about."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeviceRow(Base):
    """A push registration token of one user's device."""

    __tablename__ = "notifications_device"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    token: Mapped[str] = mapped_column(sa.String(TOKEN_LENGTH), unique=True)
    platform: Mapped[str] = mapped_column(sa.String(10))
    """``android``, ``ios`` or ``web``."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    """One message to one person on one channel."""

    __tablename__ = "notifications_delivery"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(sa.String(KEY_LENGTH), unique=True)
    """``<event>:<subject id>:<extra>:<user>:<channel>[:<device>]``."""
    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("auth_user.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(sa.String(64))
    resource: Mapped[str] = mapped_column(sa.String(140))
    """What it is about: ``Appointment/<id>``, ``Invoice/<id>``..."""
    channel: Mapped[str] = mapped_column(sa.String(8))
    destination: Mapped[str] = mapped_column(sa.String(TOKEN_LENGTH))
    """The email address, phone number or device token it goes to."""
    language: Mapped[str] = mapped_column(sa.String(8))
    title: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """The email subject or push title (None for SMS)."""
    body: Mapped[str] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    """Push data (string pairs for the app)."""
    status: Mapped[str] = mapped_column(sa.String(10))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    provider: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status_known"),
        sa.Index("ix_notifications_delivery_user_created", "user_id", "created_at"),
        sa.Index("ix_notifications_delivery_status_created", "status", "created_at"),
    )


preference_table = PreferenceRow.__table__
device_table = DeviceRow.__table__
delivery_table = DeliveryRow.__table__
