"""Discovery documents and keys, all public and CORS-enabled:

* ``/.well-known/smart-configuration`` (also at ``/fhir/.well-known/smart-configuration``,
  which the ``/fhir`` WSGI adapter passes through to Flask): SMART App Launch 2.2 §2.3;
* ``/.well-known/openid-configuration``: OpenID Connect Discovery, for the issuer
  ``base_url`` that signs id tokens;
* ``/oauth2/jwks``: the public keys of ``core.auth.keys`` (current and retired-but-verifying);
* ``/oauth2/smart-style.json``: the ``smart_style_url`` every token response names.

``capabilities`` lists exactly what this server does; a test drives each of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify

from platform_core.oauth.clients import ASSERTION_ALGS
from platform_core.oauth.cors import cors

if TYPE_CHECKING:
    from platform_core.app import Core

bp = Blueprint("oauth_discovery", __name__)

CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
)
"""SMART capabilities, each one implemented and tested (no standalone encounter picker)."""
SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "launch/encounter",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
    "system/*.write",
)
"""Representative scopes; any resource type and ``?query`` (v2) may be asked for."""
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SMART_STYLE = {
    "color_background": "#ffffff",
    "color_error": "#b00020",
    "color_highlight": "#1a73e8",
    "color_modal_backdrop": "#00000080",
    "color_success": "#1b5e20",
    "color_text": "#1f1f1f",
    "dim_border_radius": "4px",
    "dim_font_size": "16px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, sans-serif",
    "font_family_heading": "system-ui, sans-serif",
}
"""The look of Fireside's own pages, for embedded apps to match (SMART ``smart_style_url``)."""


def _core() -> Core:
    return current_app.extensions["fireside"]  # type: ignore[no-any-return]


def endpoints(base_url: str) -> dict[str, str]:
    """The absolute URLs of the authorization server's endpoints."""
    base = base_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/oauth2/jwks",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "revocation_endpoint": f"{base}/oauth2/revoke",
    }


def smart_configuration(base_url: str, plugin_scopes: Iterable[str] = ()) -> dict[str, Any]:
    """The SMART configuration document (``plugin_scopes``: from ``register_scopes``)."""
    return {
        **endpoints(base_url),
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "scopes_supported": [*SCOPES_SUPPORTED, *plugin_scopes],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
    }


def openid_configuration(base_url: str) -> dict[str, Any]:
    """The OpenID Connect discovery document."""
    return {
        **endpoints(base_url),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile", "offline_access"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "code_challenge_methods_supported": ["S256"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


def _public_json(document: dict[str, Any], max_age: int = 300) -> Response:
    response = jsonify(document)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@bp.route(
    "/.well-known/smart-configuration",
    methods=["GET", "OPTIONS"],
    provide_automatic_options=False,
)
@bp.route(
    "/fhir/.well-known/smart-configuration",
    methods=["GET", "OPTIONS"],
    provide_automatic_options=False,
    endpoint="fhir_smart_configuration",
)
@cors
def smart_configuration_view() -> Response:
    """SMART App Launch discovery."""
    core = _core()
    return _public_json(smart_configuration(core.settings.base_url, core.plugins.scopes()))


@bp.route(
    "/.well-known/openid-configuration",
    methods=["GET", "OPTIONS"],
    provide_automatic_options=False,
)
@cors
def openid_configuration_view() -> Response:
    """OpenID Connect discovery."""
    return _public_json(openid_configuration(_core().settings.base_url))


@bp.route("/oauth2/jwks", methods=["GET", "OPTIONS"], provide_automatic_options=False)
@cors
def jwks_view() -> Response:
    """The public signing keys. Cached for a minute only, so a rotated key is seen soon
    (verifiers should also refetch when a token names a ``kid`` they lack)."""
    return _public_json(_core().auth.keys.jwks(), max_age=60)


@bp.route("/oauth2/smart-style.json", methods=["GET", "OPTIONS"], provide_automatic_options=False)
@cors
def smart_style_view() -> Response:
    """The SMART style document."""
    return _public_json(SMART_STYLE, max_age=3600)
