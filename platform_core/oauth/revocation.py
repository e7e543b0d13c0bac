"""Token revocation (RFC 7009): ``POST /oauth2/revoke``.

The client authenticates as at the token endpoint (public clients with their ``client_id``)
and may revoke only its own tokens. A refresh token revokes its whole family (every refresh
token and every access token issued from the same authorization); an access token is
revoked alone, through ``core.auth.tokens.revoke``. An unknown or already invalid token
answers 200 as well, as the RFC asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint

from platform_core.fhir.instants import now_utc
from platform_core.oauth import families
from platform_core.oauth.code_grant import CLIENT_AUTH_METHODS
from platform_core.oauth.token_lookup import FoundToken, find_token

if TYPE_CHECKING:
    from platform_core.oauth.server import FiresideAuthorizationServer


class SmartRevocationEndpoint(RevocationEndpoint):  # type: ignore[misc]
    """authlib's revocation endpoint over Fireside's tokens and families."""

    CLIENT_AUTH_METHODS = CLIENT_AUTH_METHODS
    server: FiresideAuthorizationServer

    def check_params(self, request: Any, client: Any) -> None:
        """``token`` is required; an unknown ``token_type_hint`` is ignored (RFC 7009 §2.1)."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token'.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.core, token_string, token_type_hint)

    def revoke_token(self, token: FoundToken, request: Any) -> None:
        core = self.server.core
        if token.family_id is not None:
            families.revoke(core.db, core.auth.tokens, token.family_id)
        elif (
            token.jti is not None and token.expires_at is not None and token.expires_at > now_utc()
        ):
            core.auth.tokens.revoke(token.jti, token.expires_at)  # an expired one needs no row
