"""The authlib authorization server of one app, wired to Fireside's stores.

One :class:`FiresideAuthorizationServer` per app (in ``app.extensions["fireside_oauth"]``)
holds the grants (authorization code with S256 PKCE, rotating refresh tokens, client
credentials), the client-authentication methods (authlib's ``none``,
``client_secret_basic``, ``client_secret_post``, plus ``private_key_jwt``), and the
introspection and revocation endpoints. Views call it; it calls the stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Request
from flask import Request
from flask import request as flask_request

from platform_core.oauth import smart_scopes
from platform_core.oauth.backend_services_grant import BackendServicesGrant
from platform_core.oauth.client_assertion import PrivateKeyJwt
from platform_core.oauth.clients import Client, JwksCache, get_client
from platform_core.oauth.code_grant import SmartAuthorizationCodeGrant
from platform_core.oauth.errors import safe_description
from platform_core.oauth.introspection import SmartIntrospectionEndpoint
from platform_core.oauth.issuing import TokenIssuer
from platform_core.oauth.pkce import S256Required
from platform_core.oauth.refresh_grant import RotatingRefreshTokenGrant
from platform_core.oauth.revocation import SmartRevocationEndpoint

if TYPE_CHECKING:
    from platform_core.app import Core

TOKEN_PATH = "/oauth2/token"


class _Request(FlaskOAuth2Request):  # type: ignore[misc]
    """authlib's Flask request without its per-request ``https`` check.

    authlib refuses plain-http URLs unless ``AUTHLIB_INSECURE_TRANSPORT`` is set for the
    whole process. Whether http is acceptable is a deployment decision here: TLS usually ends
    at a proxy, so the URL Flask sees says ``http`` even in production. ``base_url`` is the
    public address, and ``init_app`` warns when it is not https (outside the loopback)."""

    def __init__(self, request: Request) -> None:
        OAuth2Request.__init__(
            self, method=request.method, uri="https://fireside.invalid/", headers=request.headers
        )
        self.uri = request.url
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class FiresideAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's Flask authorization server over Fireside's clients, codes and tokens."""

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core
        self.issuer = TokenIssuer(core)
        self.jwks = JwksCache()
        self.token_url = core.settings.base_url.rstrip("/") + TOKEN_PATH
        self.register_client_auth_method(
            "private_key_jwt", PrivateKeyJwt(core.db, self.token_url, self.jwks)
        )
        self.register_grant(SmartAuthorizationCodeGrant, [S256Required()])
        self.register_grant(RotatingRefreshTokenGrant)
        self.register_grant(BackendServicesGrant)
        self.register_endpoint(SmartIntrospectionEndpoint)
        self.register_endpoint(SmartRevocationEndpoint)

    def query_client(self, client_id: str) -> Client | None:
        """The active client (read on the autocommit read engine: one round trip)."""
        if not isinstance(client_id, str):
            return None
        return get_client(self.core.repository.read_engine, client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        """Unused: the grants store what they issue through ``TokenIssuer``."""

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return _Request(flask_request)

    def validate_requested_scope(self, scope: str | None) -> None:
        """Every requested scope must be a well-formed SMART scope (narrowing to what the
        client may have comes after)."""
        try:
            smart_scopes.check_syntax(smart_scopes.split(scope), self.core.plugins.scopes())
        except smart_scopes.ScopeSyntaxError as exc:
            raise InvalidScopeError(safe_description(str(exc))) from exc
