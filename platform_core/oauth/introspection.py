"""Token introspection (RFC 7662): ``POST /oauth2/introspect``.

Who may ask: a resource server holding an access token with a ``system/`` scope (it may
introspect any token), or an authenticated confidential client (``client_secret_basic``,
``client_secret_post`` or ``private_key_jwt``), which learns only about tokens issued to
itself: for anyone else's the answer is ``{"active": false}``, exactly as for an unknown
token, so introspection cannot be used to probe other clients' tokens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import g as flask_g
from flask import request as flask_request

from platform_core.auth.tokens import AccessToken
from platform_core.oauth.bearer import bearer_value, verify_bearer
from platform_core.oauth.clients import Client
from platform_core.oauth.token_lookup import FoundToken, find_token

if TYPE_CHECKING:
    from platform_core.oauth.server import FiresideAuthorizationServer


class SmartIntrospectionEndpoint(IntrospectionEndpoint):  # type: ignore[misc]
    """authlib's introspection endpoint with Fireside's callers and tokens."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    server: FiresideAuthorizationServer

    def authenticate_endpoint_client(self, request: Any) -> Client | AccessToken:
        """A ``system/`` bearer token, or else an authenticated confidential client."""
        raw = bearer_value(flask_request)
        if raw is not None:
            caller = verify_bearer(self.server.core, raw, ("system",))
            request.client = None
            flask_g.oauth_caller = caller.client_id  # for the audit record
            return caller
        return super().authenticate_endpoint_client(request)

    def check_params(self, request: Any, client: Any) -> None:
        """``token`` is required; an unknown ``token_type_hint`` is ignored (RFC 7662 §2.1)."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token'.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> FoundToken | None:
        return find_token(self.server.core, token_string, token_type_hint)

    def check_permission(self, token: FoundToken, client: Any, request: Any) -> bool:
        if isinstance(client, AccessToken):
            return True
        return token.check_client(client)

    def introspect_token(self, token: FoundToken) -> dict[str, Any]:
        return {"active": True, **token.details}
