"""The refresh token grant, with rotation and reuse detection (authlib grant subclass).

Each refresh returns a new refresh token and spends the old one (``families.rotate``). A
spent token presented again revokes its whole family, access tokens included: one of the
two parties holding it is not the app. A ``scope`` parameter may narrow the new access
token; anything beyond the original grant is ``invalid_scope``. The refresh fails with
``invalid_grant`` once the user's token generation changed, the account is no longer active,
or, for ``online_access``, the browser session that approved has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import RefreshTokenGrant
from flask import g

from platform_core.fhir.instants import now_utc
from platform_core.identity.session import session_is_active
from platform_core.identity.users import User, get_user
from platform_core.oauth import families, smart_scopes
from platform_core.oauth.code_grant import CLIENT_AUTH_METHODS
from platform_core.oauth.errors import safe_description

if TYPE_CHECKING:
    from platform_core.oauth.server import FiresideAuthorizationServer


class RotatingRefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    """Refresh token grant with rotation (see the module docstring)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: FiresideAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> families.RefreshToken | None:
        """The usable refresh token with this value; a rotated one revokes its family."""
        db = self.server.core.db
        token = families.find_refresh_token(db, refresh_token)
        if token is None or token.family.revoked_at is not None:
            return None
        if token.rotated_at is not None:
            families.revoke(db, self.server.core.auth.tokens, token.family.id)
            raise InvalidGrantError(
                "The refresh token was already used; its whole family is now revoked."
            )
        if token.expires_at <= now_utc():
            raise InvalidGrantError("The refresh token has expired.")
        return token

    def _validate_token_scope(self, token: families.RefreshToken) -> None:
        """A requested ``scope`` must stay within the original grant."""
        requested = smart_scopes.split(self.request.payload.scope)
        if not requested:
            return
        granted = token.get_scope().split()
        try:
            smart_scopes.check_syntax(requested, self.server.core.plugins.scopes())
        except smart_scopes.ScopeSyntaxError as exc:
            raise InvalidScopeError(safe_description(str(exc))) from exc
        beyond = [s for s in requested if not smart_scopes.covered(s, granted)]
        if beyond:
            raise InvalidScopeError("The refresh asks for scopes beyond the original grant.")

    def authenticate_user(self, refresh_token: families.RefreshToken) -> User | None:
        """The family's user, while active, on the same token generation and, for online
        access, still signed in to the session that approved."""
        family = refresh_token.family
        db = self.server.core.db
        user = get_user(db, family.user_id)
        if user is None or not user.is_active or user.token_generation != family.generation:
            return None
        if not family.offline and (
            family.session_hash is None or not session_is_active(db, family.session_hash)
        ):
            return None
        return user

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Rotate the refresh token and answer the new tokens (``TokenIssuer.refresh``)."""
        token: families.RefreshToken = self.request.refresh_token
        user = self.authenticate_user(token)
        if user is None:
            raise InvalidGrantError("The authorization behind this refresh token has ended.")
        self.request.user = user
        scope = " ".join(smart_scopes.split(self.request.payload.scope)) or None
        issued = self.server.issuer.refresh(self.request.client, user, token, scope)
        g.oauth_who = issued.who
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER
