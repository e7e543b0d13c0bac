"""The authorization server's tables (migration 0008).

* ``oauth_client``: registered apps. A confidential symmetric client's secret is kept only
  as its SHA-256 (secrets are long random strings, so a fast hash is enough; Argon2 is for
  passwords people choose); an asymmetric client's public keys are inline (``jwks``) or
  fetched from ``jwks_uri``.
* ``oauth_authorization_code``: codes waiting to be exchanged, by the SHA-256 of the code.
  A code is marked used rather than deleted so that a second use can be recognised and the
  tokens issued from the first revoked (RFC 6749 §4.1.2).
* ``oauth_grant``: one user authorization (a "token family"): the scopes, the SMART launch
  context, and whether its refresh tokens are ``offline`` or tied to a browser session.
* ``oauth_refresh_token``: the refresh tokens of a family, by hash. Each refresh rotates the
  token; a rotated token presented again revokes the whole family.
* ``oauth_access_token``: the ``jti`` and expiry of every access token issued to a family,
  so revoking the family can revoke them too (access tokens themselves are stateless JWTs).
* ``oauth_jti``: client-assertion ``jti`` values already seen, until the assertion expires
  (replay protection for ``private_key_jwt``).
* ``oauth_launch``: EHR launch contexts registered through ``POST /oauth2/launch``, by the
  SHA-256 of the opaque ``launch`` value.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.schema import Base
from platform_core.db.types import UTCDateTime


class ClientRow(Base):
    """A registered OAuth client (a SMART app or a backend service)."""

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(32))
    """``public``, ``confidential-symmetric`` or ``confidential-asymmetric``."""
    secret_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """Hex SHA-256 of the client secret (symmetric clients only)."""
    redirect_uris: Mapped[str] = mapped_column(sa.Text)
    """JSON array of the exact redirect URIs the client may use."""
    grant_types: Mapped[str] = mapped_column(sa.String(200))
    """Space-separated grant types the client may use."""
    scope: Mapped[str] = mapped_column(sa.Text)
    """Space-separated scopes the client may be granted (resource scopes may use ``*``)."""
    jwks: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Inline JSON Web Key Set of an asymmetric client."""
    jwks_uri: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """Where an asymmetric client publishes its keys (fetched and cached)."""
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationCodeRow(Base):
    """An authorization code, single-use and short-lived."""

    __tablename__ = "oauth_authorization_code"

    code_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("oauth_client.client_id", ondelete="CASCADE")
    )
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("auth_user.id", ondelete="CASCADE"))
    generation: Mapped[int] = mapped_column(sa.Integer)
    """The user's token generation at consent: a password change voids the code."""
    session_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """The browser session that approved (``online_access`` refresh tokens die with it)."""
    redirect_uri: Mapped[str] = mapped_column(sa.Text)
    scope: Mapped[str] = mapped_column(sa.Text)
    code_challenge: Mapped[str] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str] = mapped_column(sa.String(10))
    nonce: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    patient: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    encounter: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    fhir_context: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    """JSON array of SMART 2.2 ``fhirContext`` objects."""
    need_patient_banner: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    grant_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    """The token family issued from this code (to revoke it if the code is reused)."""


class GrantRow(Base):
    """One authorization a user gave a client: the family of its tokens."""

    __tablename__ = "oauth_grant"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("oauth_client.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(
        sa.ForeignKey("auth_user.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(sa.Text)
    patient: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    encounter: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    fhir_context: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    need_patient_banner: Mapped[bool] = mapped_column(sa.Boolean)
    offline: Mapped[bool] = mapped_column(sa.Boolean)
    """``offline_access``: refresh tokens outlive the browser session."""
    session_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    """For ``online_access``: the browser session the refresh tokens are tied to."""
    generation: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshTokenRow(Base):
    """A refresh token of a family; ``rotated_at`` is set when it was exchanged."""

    __tablename__ = "oauth_refresh_token"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("oauth_grant.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssuedAccessTokenRow(Base):
    """An access token issued to a family, remembered until it expires."""

    __tablename__ = "oauth_access_token"

    jti: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    grant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("oauth_grant.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssertionJtiRow(Base):
    """A client assertion already used, kept until it would have expired anyway."""

    __tablename__ = "oauth_jti"

    client_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LaunchRow(Base):
    """An EHR launch context, waiting for the app's authorization request."""

    __tablename__ = "oauth_launch"

    launch_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    patient: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    encounter: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    fhir_context: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(140))
    """Who registered it: ``client:<id>`` for a token, ``user:<id>`` for a session."""
    user_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True)
    """When set, only this user may complete the launch."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
