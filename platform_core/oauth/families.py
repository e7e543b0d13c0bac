"""Token families: everything issued from one user authorization, so it can be revoked as one.

A family (``oauth_grant``) is created when an authorization code is exchanged. It owns:

* refresh tokens (``oauth_refresh_token``, by SHA-256). Refreshing *rotates*: the presented
  token is marked ``rotated_at`` and a new one issued, in one transaction guarded by
  ``rotated_at IS NULL``. A rotated token presented again means two parties hold the family's
  tokens (RFC 9700 §4.14.2), so the whole family is revoked;
* the ``jti`` of each access token it was given (``oauth_access_token``), so that revoking the
  family also revokes those through ``core.auth.tokens.revoke``.

``offline_access`` families keep working after the browser session ends; ``online_access``
ones only while the session that approved them is signed in. Both end when the user's token
generation changes (a password change or suspension).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from platform_core.auth.secrets import digest
from platform_core.auth.tokens import TokenService
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.oauth.launch_context import LaunchContext
from platform_core.oauth.schema import GrantRow, IssuedAccessTokenRow, RefreshTokenRow

_GRANTS = GrantRow.__table__
_REFRESH = RefreshTokenRow.__table__
_ISSUED = IssuedAccessTokenRow.__table__


@dataclass(frozen=True)
class Family:
    """One authorization: its scope and context, whose it is, and whether it still holds."""

    id: str
    client_id: str
    user_id: str
    scope: str
    context: LaunchContext
    offline: bool
    session_hash: str | None
    generation: int
    revoked_at: datetime | None


@dataclass(frozen=True)
class RefreshToken:
    """A stored refresh token with its family (authlib's ``TokenMixin`` where used)."""

    token_hash: str
    family: Family
    expires_at: datetime
    rotated_at: datetime | None

    def check_client(self, client: object) -> bool:
        return getattr(client, "client_id", None) == self.family.client_id

    def get_scope(self) -> str:
        return self.family.scope

    def is_usable(self, now: datetime) -> bool:
        """Neither rotated, expired nor revoked with its family."""
        return self.rotated_at is None and self.expires_at > now and self.family.revoked_at is None


def create(
    conn: Connection,
    *,
    client_id: str,
    user_id: str,
    scope: str,
    context: LaunchContext,
    offline: bool,
    session_hash: str | None,
    generation: int,
) -> Family:
    """A new family, inside the caller's transaction."""
    family = Family(
        id=str(uuid.uuid4()),
        client_id=client_id,
        user_id=user_id,
        scope=scope,
        context=context,
        offline=offline,
        session_hash=None if offline else session_hash,
        generation=generation,
        revoked_at=None,
    )
    conn.execute(
        sa.insert(_GRANTS).values(
            id=family.id,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            patient=context.patient,
            encounter=context.encounter,
            fhir_context=context.fhir_context_json(),
            need_patient_banner=context.need_patient_banner,
            offline=offline,
            session_hash=family.session_hash,
            generation=generation,
            created_at=now_utc(),
            revoked_at=None,
        )
    )
    return family


def add_refresh_token(conn: Connection, family: Family, ttl_s: int) -> str:
    """A new refresh token of ``family``; returns it in clear (stored only hashed)."""
    raw = secrets.token_urlsafe(32)
    now = now_utc()
    conn.execute(
        sa.insert(_REFRESH).values(
            token_hash=digest(raw),
            grant_id=family.id,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
            rotated_at=None,
        )
    )
    return raw


def record_access_token(conn: Connection, family_id: str, jti: str, expires_at: datetime) -> None:
    """Remember an access token issued to ``family_id`` (and forget expired ones of it)."""
    now = now_utc()
    conn.execute(
        sa.delete(_ISSUED).where(_ISSUED.c.grant_id == family_id, _ISSUED.c.expires_at < now)
    )
    conn.execute(sa.insert(_ISSUED).values(jti=jti, grant_id=family_id, expires_at=expires_at))


def find_refresh_token(db: Engine, raw: str) -> RefreshToken | None:
    """The refresh token with this value, in any state; None when unknown."""
    if not raw or len(raw) > 200:
        return None
    query = (
        sa.select(_REFRESH, _GRANTS)
        .join(_GRANTS, _GRANTS.c.id == _REFRESH.c.grant_id)
        .where(_REFRESH.c.token_hash == digest(raw))
    )
    with db.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    family = Family(
        id=row.grant_id,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=row.scope,
        context=LaunchContext.from_columns(
            row.patient, row.encounter, row.fhir_context, row.need_patient_banner
        ),
        offline=row.offline,
        session_hash=row.session_hash,
        generation=row.generation,
        revoked_at=row.revoked_at,
    )
    return RefreshToken(row.token_hash, family, row.expires_at, row.rotated_at)


def rotate(conn: Connection, token_hash: str) -> bool:
    """Mark a refresh token exchanged; False when it already was (a concurrent reuse)."""
    result = conn.execute(
        sa.update(_REFRESH)
        .where(_REFRESH.c.token_hash == token_hash, _REFRESH.c.rotated_at.is_(None))
        .values(rotated_at=now_utc())
    )
    return result.rowcount == 1


def sweep(db: Engine, *, keep_expired: timedelta = timedelta(days=1)) -> None:
    """Forget what can no longer be used: access-token records past their expiry, and
    refresh tokens expired for longer than ``keep_expired`` (kept that long so a late replay
    is still recognised). Families stay, as the record of what was authorized."""
    now = now_utc()
    with write_transaction(db) as conn:
        conn.execute(sa.delete(_ISSUED).where(_ISSUED.c.expires_at < now))
        conn.execute(sa.delete(_REFRESH).where(_REFRESH.c.expires_at < now - keep_expired))


def revoke(db: Engine, tokens: TokenService, family_id: str) -> None:
    """Revoke a family: its refresh tokens stop working and its live access tokens are
    revoked (idempotent)."""
    now = now_utc()
    with write_transaction(db) as conn:
        conn.execute(
            sa.update(_GRANTS)
            .where(_GRANTS.c.id == family_id, _GRANTS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        live = conn.execute(
            sa.select(_ISSUED.c.jti, _ISSUED.c.expires_at).where(
                _ISSUED.c.grant_id == family_id, _ISSUED.c.expires_at > now
            )
        ).all()
    for jti, expires_at in live:
        tokens.revoke(jti, expires_at)
