"""The identity module's own tables (migration 0007), next to ``auth_user`` (0006).

* ``identity_token``: single-use links sent by mail (email verification, password reset),
  stored only as the SHA-256 of the token, so a database leak gives no working link.
* ``identity_session``: the server side of a browser session. The cookie carries a random
  session id; its SHA-256 is the row's key. Logging out deletes the row, so a copied cookie
  stops working at once (a signed cookie alone would stay valid).
* ``identity_totp_step``: the last TOTP time step a user logged in with, so a code seen over
  a shoulder cannot be used a second time.
* ``identity_throttle`` (migration 0010): hit counters per action and caller address or
  email address, per time window (:mod:`platform_core.identity.throttle`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime


class OneTimeTokenRow(Base):
    """A link sent by mail: ``purpose`` is ``verify_email`` or ``reset_password``."""

    __tablename__ = "identity_token"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """Hex SHA-256 of the token in the link."""
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """Set when the link is followed: a used link never works again."""


class SessionRow(Base):
    """A signed-in browser session."""

    __tablename__ = "identity_session"

    id_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    """Hex SHA-256 of the session id kept in the (signed) session cookie."""
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TotpStepRow(Base):
    """The last accepted TOTP time step of a user (replay protection)."""

    __tablename__ = "identity_totp_step"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True
    )
    last_step: Mapped[int] = mapped_column(sa.BigInteger)


class ThrottleRow(Base):
    """How many times one ``bucket`` (an action and who does it, such as
    ``login-failure:203.0.113.9``) was hit in one fixed time window."""

    __tablename__ = "identity_throttle"

    bucket: Mapped[str] = mapped_column(sa.String(300), primary_key=True)
    window: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    """The window's number: seconds since the epoch divided by the window length."""
    hits: Mapped[int] = mapped_column(sa.Integer)
    expires: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    """Seconds since the epoch after which the row no longer counts (it is then deleted)."""
