"""From an ``Authorization: Bearer`` header to the caller's :class:`RequestContext`."""

from __future__ import annotations

from collections.abc import Callable

from platform_core.auth.grants import Grant, GrantResolver, RevokedGrant
from platform_core.auth.keys import InvalidToken
from platform_core.auth.policy import unauthenticated
from platform_core.auth.tokens import AccessToken, TokenService
from platform_core.fhir.context import RequestContext


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, None otherwise."""
    scheme, _, raw = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    return raw.strip()


class Authenticator:
    """Verifies bearer tokens and resolves what they grant."""

    def __init__(self, tokens: TokenService, grants: GrantResolver) -> None:
        self.tokens = tokens
        self.grants = grants
        self.client_is_active: Callable[[str], bool] = lambda client_id: True
        """Whether tokens of a client may still be used; the OAuth server installs its
        check of switched-off clients (``manage.py clients disable``)."""

    def verify(self, raw: str) -> tuple[AccessToken, Grant]:
        """The token and what it grants; raises :class:`InvalidToken` (forged, expired,
        revoked...) or :class:`RevokedGrant` (its user is suspended or changed password).
        Every API that takes bearer tokens verifies them here."""
        token = self.tokens.verify(raw)
        if not self.client_is_active(token.client_id):
            raise InvalidToken("the token's client is switched off")
        return token, self.grants.grant_for(token)

    def context(
        self,
        authorization: str | None,
        *,
        remote_addr: str | None = None,
        request_id: str | None = None,
    ) -> RequestContext:
        """The caller behind ``authorization``; raises a 401 ``FhirError`` (with its
        ``WWW-Authenticate`` challenge) when there is no valid token."""
        if not authorization:
            raise unauthenticated(None)
        raw = bearer_token(authorization)
        if raw is None:
            raise unauthenticated("the Authorization header must be 'Bearer <token>'")
        try:
            token, grant = self.verify(raw)
        except (InvalidToken, RevokedGrant) as exc:
            raise unauthenticated(str(exc)) from None
        actor = grant.fhir_user or (f"User/{token.user_id}" if token.user_id else None)
        return RequestContext(
            actor=actor or f"Device/{token.client_id}",
            scopes=token.scopes,
            client_id=token.client_id,
            patient_id=token.patient,
            remote_addr=remote_addr,
            request_id=request_id,
            user_id=token.user_id,
            grant=grant,
        )
