"""Tables shared by the identity module, the authorization server and the token verifier.

``auth_user`` is a person who signs in, linked to their FHIR resource (``fhir_user``);
``auth_user_patient`` says which patients a user may act for (themselves, a guardian's
children, a practitioner's assigned patients). ``oauth_signing_key`` holds the keys that sign
access and id tokens, and ``oauth_revoked_token`` the access tokens revoked before they expire.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime

ROLES = ("patient", "guardian", "practitioner", "pharmacist", "admin", "super_admin")
"""Every role a user can have, least to most powerful."""


class UserRow(Base):
    """A person who signs in."""

    __tablename__ = "auth_user"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    """Lower-cased; the login name."""
    password_hash: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Argon2id hash; None until a password is set."""
    role: Mapped[str] = mapped_column(sa.String(20))
    """One of :data:`ROLES`."""
    fhir_user: Mapped[str | None] = mapped_column(sa.String(140), nullable=True)
    """The user's own FHIR resource, ``Patient/1``, ``Practitioner/7`` or ``RelatedPerson/3``."""
    status: Mapped[str] = mapped_column(sa.String(20), default="active")
    """``pending`` (email not verified), ``active`` or ``suspended``."""
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When an admin verified a practitioner (who may then prescribe and publish slots)."""
    totp_secret: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Base32 TOTP secret once the user turned on a second factor."""
    token_generation: Mapped[int] = mapped_column(sa.Integer, default=0)
    """Bumped on a password change: tokens and sessions of older generations stop working."""
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserPatientRow(Base):
    """A patient a user may act for, and why."""

    __tablename__ = "auth_user_patient"

    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("auth_user.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    relationship: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    """``self`` (the user is this patient), ``guardian`` (a parent, through
    ``related_person_id``) or ``care`` (a practitioner assigned to the patient)."""
    related_person_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_auth_user_patient_patient", "patient_id"),)


class SigningKeyRow(Base):
    """A key that signs tokens. The newest signs; all listed verify until ``verify_until``."""

    __tablename__ = "oauth_signing_key"

    kid: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(sa.String(10))
    private_jwk: Mapped[str] = mapped_column(sa.Text)
    public_jwk: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sign_until: Mapped[datetime] = mapped_column(UTCDateTime)
    verify_until: Mapped[datetime] = mapped_column(UTCDateTime)


class RevokedTokenRow(Base):
    """An access token revoked before its expiry (RFC 7009), by its ``jti``."""

    __tablename__ = "oauth_revoked_token"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
