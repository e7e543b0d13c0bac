"""Token responses: the one place where the authorization server mints tokens.

Access tokens come only from ``core.auth.tokens.issue`` (signed JWTs the FHIR API verifies
without a lookup); user tokens carry the user's ``token_generation``. Refresh tokens and
families are kept in ``families``; id tokens are signed by ``core.auth.keys``.

Every successful response has ``access_token``, ``token_type``, ``expires_in`` and ``scope``;
user responses add the SMART launch context (``patient``, ``encounter``, ``fhirContext``,
``need_patient_banner``, ``smart_style_url``), a ``refresh_token`` when ``offline_access`` or
``online_access`` was granted, and an ``id_token`` for ``openid``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidGrantError

from platform_core.auth.services import ID_TOKEN_TTL_S
from platform_core.auth.tokens import AccessToken
from platform_core.db.engine import write_transaction
from platform_core.identity.users import User
from platform_core.oauth import codes, families
from platform_core.oauth.clients import Client
from platform_core.oauth.launch_context import LaunchContext

if TYPE_CHECKING:
    from platform_core.app import Core

SMART_STYLE_PATH = "/oauth2/smart-style.json"
SWEEP_EVERY_S = 600.0
"""How often (per process, at most) expired token records are deleted, on a code exchange."""


@dataclass(frozen=True)
class Issued:
    """A token response body, and who it was for (for the audit record)."""

    body: dict[str, Any]
    who: str | None


class _LostRace(Exception):
    """A code or refresh token was spent by a concurrent request inside our transaction."""


def who_is(user: User) -> str:
    """How audit names a user: their FHIR resource, or ``User/<id>``."""
    return user.fhir_user or f"User/{user.id}"


class TokenIssuer:
    """Builds token responses for one app."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.settings = core.settings
        self._swept = time.monotonic()

    def _maybe_sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept >= SWEEP_EVERY_S:
            self._swept = now
            families.sweep(self.core.db)

    @property
    def smart_style_url(self) -> str:
        return self.settings.base_url.rstrip("/") + SMART_STYLE_PATH

    # --- backend services ------------------------------------------------------------------
    def for_client(self, client: Client, scope: str) -> Issued:
        """A client-credentials token (no user, no refresh token)."""
        raw, token = self.core.auth.tokens.issue(client_id=client.client_id, scope=scope)
        body = {
            "access_token": raw,
            "token_type": "Bearer",
            "expires_in": self.core.auth.tokens.ttl,
            "scope": token.scope,
        }
        return Issued(body, None)

    # --- users -----------------------------------------------------------------------------
    # Tokens are signed *before* the write transaction opens: signing may create the first
    # signing key, a write of its own, which on SQLite would wait forever behind ours.
    def exchange_code(self, client: Client, user: User, code: codes.AuthorizationCode) -> Issued:
        """Tokens for an authorization code, which is spent in the same transaction that
        creates the family. A code spent meanwhile by a racing request is a reuse: the family
        it produced is revoked and the request refused."""
        scopes = set(code.scope.split())
        offline = "offline_access" in scopes
        wants_refresh = (offline or "online_access" in scopes) and client.check_grant_type(
            "refresh_token"
        )
        self._maybe_sweep()
        raw, token = self._access_token(client, user, code.context, code.scope)
        id_token = self.id_token(client, user, scopes, nonce=code.nonce)
        try:
            with write_transaction(self.core.db) as conn:
                family = families.create(
                    conn,
                    client_id=client.client_id,
                    user_id=user.id,
                    scope=code.scope,
                    context=code.context,
                    offline=offline,
                    session_hash=code.session_hash,
                    generation=user.token_generation,
                )
                if not codes.consume(conn, code.code_hash, family.id):
                    raise _LostRace  # rolls the new family back
                refresh = (
                    families.add_refresh_token(conn, family, self.settings.refresh_token_ttl_s)
                    if wants_refresh
                    else None
                )
                families.record_access_token(conn, family.id, token.jti, token.expires_at)
        except _LostRace:
            earlier = codes.family_of(self.core.db, code.code_hash)
            if earlier is not None:
                families.revoke(self.core.db, self.core.auth.tokens, earlier)
            raise InvalidGrantError("The authorization code was already used.") from None
        body = self._user_body(raw, token, code.context, refresh, id_token)
        return Issued(body, who_is(user))

    def refresh(
        self, client: Client, user: User, token: families.RefreshToken, scope: str | None
    ) -> Issued:
        """Tokens for a refresh token, which is rotated: the response carries a new refresh
        token and the old one stops working. ``scope`` narrows the access token only; the
        family keeps its scope."""
        family = token.family
        granted = scope or family.scope
        raw, access = self._access_token(client, user, family.context, granted)
        id_token = self.id_token(client, user, set(granted.split()), nonce=None)
        try:
            with write_transaction(self.core.db) as conn:
                if not families.rotate(conn, token.token_hash):
                    raise _LostRace
                refresh = families.add_refresh_token(
                    conn, family, self.settings.refresh_token_ttl_s
                )
                families.record_access_token(conn, family.id, access.jti, access.expires_at)
        except _LostRace:
            families.revoke(self.core.db, self.core.auth.tokens, family.id)
            raise InvalidGrantError("The refresh token was already used.") from None
        body = self._user_body(raw, access, family.context, refresh, id_token)
        return Issued(body, who_is(user))

    def _access_token(
        self, client: Client, user: User, context: LaunchContext, scope: str
    ) -> tuple[str, AccessToken]:
        return self.core.auth.tokens.issue(
            client_id=client.client_id,
            scope=scope,
            user_id=user.id,
            fhir_user=user.fhir_user,
            patient=context.patient,
            encounter=context.encounter,
            fhir_context=list(context.fhir_context) or None,
            generation=user.token_generation,
        )

    def _user_body(
        self,
        raw: str,
        token: AccessToken,
        context: LaunchContext,
        refresh: str | None,
        id_token: str | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": raw,
            "token_type": "Bearer",
            "expires_in": self.core.auth.tokens.ttl,
            "scope": token.scope,
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        if id_token is not None:
            body["id_token"] = id_token
        if context.patient:
            body["patient"] = context.patient
        if context.encounter:
            body["encounter"] = context.encounter
        if context.fhir_context:
            body["fhirContext"] = list(context.fhir_context)
        body["need_patient_banner"] = context.need_patient_banner
        body["smart_style_url"] = self.smart_style_url
        return body

    # --- OpenID Connect --------------------------------------------------------------------
    def id_token(
        self, client: Client, user: User, scopes: set[str], *, nonce: str | None
    ) -> str | None:
        """An RS256 id token for ``user`` when ``openid`` was granted (else None): ``sub`` is
        the account id, ``fhirUser`` (with the ``fhirUser`` or ``profile`` scope) the
        absolute URL of the user's FHIR resource."""
        if "openid" not in scopes:
            return None
        iat = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.core.auth.tokens.issuer,
            "sub": user.id,
            "aud": client.client_id,
            "iat": iat,
            "exp": iat + ID_TOKEN_TTL_S,
        }
        if nonce:
            claims["nonce"] = nonce
        if user.fhir_user and scopes & {"fhirUser", "profile"}:
            claims["fhirUser"] = f"{self.settings.fhir_base_url}/{user.fhir_user}"
        return self.core.auth.keys.sign(claims)
