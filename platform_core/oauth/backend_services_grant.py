"""The client credentials grant for SMART Backend Services (authlib grant subclass).

A confidential client authenticates (``private_key_jwt``, or a client secret for a
symmetric client that was given this grant) and asks for ``system/`` scopes. The request is
narrowed to the client's allowed ``system/`` scopes; ``invalid_scope`` when nothing is left.
No refresh token, no user: the access token's ``sub`` is the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from flask import g

from platform_core.oauth import smart_scopes

if TYPE_CHECKING:
    from platform_core.oauth.server import FiresideAuthorizationServer


class BackendServicesGrant(ClientCredentialsGrant):  # type: ignore[misc]
    """Client credentials with ``system/`` scopes only."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt", "client_secret_basic", "client_secret_post"]
    server: FiresideAuthorizationServer

    def validate_token_request(self) -> None:
        """Authenticate the client (authlib), then narrow the scope to ``system/`` ones."""
        super().validate_token_request()
        requested = smart_scopes.split(self.request.payload.scope)
        if not requested:
            raise InvalidScopeError("Ask for the system/ scopes you need in 'scope'.")
        allowed = [s for s in self.request.client.scope if smart_scopes.is_context(s, "system")]
        kept = [
            s
            for s in smart_scopes.narrow(requested, allowed)
            if smart_scopes.is_context(s, "system")
        ]
        if not kept:
            raise InvalidScopeError("None of the requested system/ scopes may be granted.")
        self.request.scope = " ".join(kept)

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        """Answer an access token for the client itself."""
        issued = self.server.issuer.for_client(self.request.client, self.request.scope)
        g.oauth_who = issued.who
        return 200, issued.body, self.TOKEN_RESPONSE_HEADER
