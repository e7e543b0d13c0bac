"""The OAuth 2 / SMART App Launch 2.2 / OpenID Connect authorization server (authlib).

Endpoints (docs/oauth.md has the full story):

* ``/oauth2/authorize`` (GET, POST): authorization code with S256 PKCE, consent, patient
  picker (``authorize_views``);
* ``/oauth2/token``, ``/oauth2/introspect``, ``/oauth2/revoke`` (``token_views``);
* ``/oauth2/launch``: EHR launch contexts (``launch_views``);
* ``/.well-known/smart-configuration``, ``/.well-known/openid-configuration``,
  ``/oauth2/jwks``, ``/oauth2/smart-style.json`` (``discovery``).

The authlib server (``server``) lives in ``app.extensions["fireside_oauth"]``. Grants:
``code_grant``, ``refresh_grant``, ``backend_services_grant``; client authentication:
``clients`` and ``client_assertion``; stores: ``codes``, ``families``, ``launch_context``;
tokens are minted in ``issuing`` through ``core.auth``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import Flask

from platform_core.oauth import authorize_views, discovery, launch_views, token_views
from platform_core.oauth.clients import ClientRegistrationError, RegisteredClient, register_client
from platform_core.oauth.server import FiresideAuthorizationServer

if TYPE_CHECKING:
    from platform_core.app import Core

__all__ = [
    "ClientRegistrationError",
    "FiresideAuthorizationServer",
    "RegisteredClient",
    "init_app",
    "register_client",
]

log = logging.getLogger(__name__)


def init_app(app: Flask, core: Core) -> None:
    """Register the authorization server's endpoints on ``app``."""
    app.extensions["fireside_oauth"] = FiresideAuthorizationServer(core)
    for blueprint in (
        authorize_views.bp,
        token_views.bp,
        launch_views.bp,
        discovery.bp,
    ):
        app.register_blueprint(blueprint)
    parts = urlsplit(core.settings.base_url)
    if parts.scheme != "https" and parts.hostname not in {"localhost", "127.0.0.1", "::1"}:
        log.warning(
            "base_url %s is not https: OAuth tokens and codes would travel in clear",
            core.settings.base_url,
        )
