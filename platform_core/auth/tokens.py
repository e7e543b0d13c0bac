"""Access tokens: signed JWTs (RFC 9068 style) that the FHIR API verifies without a lookup.

A token carries who (``sub``, ``client_id``, ``fhirUser``), what (``scope``), the SMART launch
context (``patient``, ``encounter``, ``fhirContext``), and the user's ``gen``eration, so a
password change (which bumps it) ends every older token. Revocation before expiry (RFC 7009)
is a row in ``oauth_revoked_token``, which each process re-reads at most once a second.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.keys import InvalidToken, KeyRing
from platform_core.auth.schema import RevokedTokenRow
from platform_core.fhir.instants import now_utc

ACCESS_TOKEN_TYP = "at+jwt"
"""The JWT ``typ`` of access tokens (RFC 9068), so an id token is never taken for one."""


@dataclass(frozen=True)
class AccessToken:
    """The verified content of an access token."""

    jti: str
    client_id: str
    scope: str
    """Space-separated granted scopes."""
    expires_at: datetime
    issued_at: datetime
    user_id: str | None = None
    """The signed-in user, None for a backend-services (client credentials) token."""
    fhir_user: str | None = None
    patient: str | None = None
    """The patient in context (``launch/patient`` or an EHR launch)."""
    encounter: str | None = None
    fhir_context: tuple[dict[str, Any], ...] = ()
    generation: int | None = None
    """The user's token generation when the token was issued."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


class TokenService:
    """Issues and verifies access tokens for one server."""

    def __init__(self, db: Engine, keys: KeyRing, *, issuer: str, audience: str, ttl: int) -> None:
        self.db = db
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._revoked: dict[str, datetime] = {}
        self._revoked_seen: datetime = datetime(1970, 1, 1, tzinfo=UTC)
        self._revoked_at = 0.0
        self._lock = threading.Lock()

    # --- issuing -----------------------------------------------------------------------
    def issue(
        self,
        *,
        client_id: str,
        scope: str,
        user_id: str | None = None,
        fhir_user: str | None = None,
        patient: str | None = None,
        encounter: str | None = None,
        fhir_context: list[dict[str, Any]] | None = None,
        generation: int | None = None,
        ttl: int | None = None,
    ) -> tuple[str, AccessToken]:
        """A new signed access token and what it says."""
        now = now_utc().replace(microsecond=0)
        expires = now + timedelta(seconds=ttl or self.ttl)
        token = AccessToken(
            jti=uuid.uuid4().hex,
            client_id=client_id,
            scope=scope,
            expires_at=expires,
            issued_at=now,
            user_id=user_id,
            fhir_user=fhir_user,
            patient=patient,
            encounter=encounter,
            fhir_context=tuple(fhir_context or ()),
            generation=generation,
        )
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user_id or client_id,
            "client_id": client_id,
            "scope": scope,
            "jti": token.jti,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        optional = {
            "fhirUser": fhir_user,
            "patient": patient,
            "encounter": encounter,
            "fhirContext": fhir_context or None,
            "gen": generation,
        }
        claims.update({k: v for k, v in optional.items() if v is not None})
        return self.keys.sign(claims, typ=ACCESS_TOKEN_TYP), token

    # --- verifying ---------------------------------------------------------------------
    def verify(self, raw: str) -> AccessToken:
        """The token's content; raises :class:`InvalidToken` (with a reason fit for a
        ``WWW-Authenticate`` header) when it is forged, expired, for another audience or
        revoked."""
        claims = self.keys.decode(raw)
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise InvalidToken("the token was issued by another server")
        aud = claims.get("aud")
        if aud != self.audience and not (isinstance(aud, list) and self.audience in aud):
            raise InvalidToken("the token is for another audience")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise InvalidToken("the token has no expiry")
        if exp <= now:
            raise InvalidToken("the token has expired")
        jti, client_id, scope = claims.get("jti"), claims.get("client_id"), claims.get("scope")
        if not isinstance(jti, str) or not isinstance(client_id, str) or not isinstance(scope, str):
            raise InvalidToken("the token is not an access token")
        if self.is_revoked(jti):
            raise InvalidToken("the token has been revoked")
        sub = claims.get("sub")
        return AccessToken(
            jti=jti,
            client_id=client_id,
            scope=scope,
            expires_at=datetime.fromtimestamp(exp, UTC),
            issued_at=datetime.fromtimestamp(iat, UTC),
            user_id=sub if isinstance(sub, str) and sub != client_id else None,
            fhir_user=claims.get("fhirUser"),
            patient=claims.get("patient"),
            encounter=claims.get("encounter"),
            fhir_context=tuple(claims.get("fhirContext") or ()),
            generation=claims.get("gen"),
        )

    def decode_unverified_expiry(self, raw: str) -> tuple[str, datetime] | None:
        """The ``jti`` and expiry of a token this server signed (for revocation), None when
        it is not one of ours."""
        try:
            claims = self.keys.decode(raw)
        except InvalidToken:
            return None
        jti, exp = claims.get("jti"), claims.get("exp")
        if not isinstance(jti, str) or not isinstance(exp, int):
            return None
        return jti, datetime.fromtimestamp(exp, UTC)

    # --- revocation --------------------------------------------------------------------
    def revoke(self, jti: str, expires_at: datetime) -> None:
        """Revoke an access token before its expiry (idempotent)."""
        now = now_utc()
        with self.db.begin() as conn:
            exists = conn.execute(
                sa.select(RevokedTokenRow.jti).where(RevokedTokenRow.jti == jti)
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(RevokedTokenRow.__table__).values(
                        jti=jti, expires_at=expires_at, revoked_at=now
                    )
                )
        with self._lock:
            self._revoked[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` was revoked (as of at most a second ago, in any process)."""
        if time.monotonic() - self._revoked_at > 1.0:
            self._refresh_revoked()
        return jti in self._revoked

    def _refresh_revoked(self) -> None:
        with self._lock:
            if time.monotonic() - self._revoked_at <= 1.0:
                return
            now = now_utc()
            # Rows committed slightly out of order are caught by looking a little back.
            since = self._revoked_seen - timedelta(seconds=5)
            with self.db.connect() as conn:
                rows = conn.execute(
                    sa.select(
                        RevokedTokenRow.jti, RevokedTokenRow.expires_at, RevokedTokenRow.revoked_at
                    ).where(RevokedTokenRow.revoked_at >= since, RevokedTokenRow.expires_at > now)
                ).all()
            for jti, expires_at, revoked_at in rows:
                self._revoked[jti] = expires_at
                self._revoked_seen = max(self._revoked_seen, revoked_at)
            self._revoked = {j: e for j, e in self._revoked.items() if e > now}
            self._revoked_at = time.monotonic()
