"""Discovery documents, JWKS, the SMART style, CORS, and signing-key rotation."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import Client as WerkzeugClient

from tests.oauth.conftest import BASE, FHIR_BASE

EXPECTED_CAPABILITIES = {
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
}


class TestSmartConfiguration:
    def test_lists_the_endpoints_and_exactly_the_capabilities_that_work(
        self, web: FlaskClient
    ) -> None:
        resp = web.get("/.well-known/smart-configuration")
        assert resp.status_code == 200
        doc: dict[str, Any] = resp.get_json()
        assert doc["issuer"] == BASE
        assert doc["authorization_endpoint"] == f"{BASE}/oauth2/authorize"
        assert doc["token_endpoint"] == f"{BASE}/oauth2/token"
        assert doc["jwks_uri"] == f"{BASE}/oauth2/jwks"
        assert doc["introspection_endpoint"] == f"{BASE}/oauth2/introspect"
        assert doc["revocation_endpoint"] == f"{BASE}/oauth2/revoke"
        assert set(doc["capabilities"]) == EXPECTED_CAPABILITIES
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert set(doc["grant_types_supported"]) == {
            "authorization_code",
            "refresh_token",
            "client_credentials",
        }
        assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
        assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
        assert {"openid", "fhirUser", "launch/patient", "offline_access"} <= set(
            doc["scopes_supported"]
        )
        assert "associated_endpoints" not in doc
        assert "registration_endpoint" not in doc

    def test_is_also_served_under_the_fhir_base_by_flask(self, app: Flask) -> None:
        """The ``/fhir`` WSGI adapter must pass this path through to Flask; Flask serves it."""
        flask_only = WerkzeugClient(app.wsgi_app.app)  # type: ignore[attr-defined]
        resp = flask_only.get("/fhir/.well-known/smart-configuration")
        assert resp.status_code == 200
        assert resp.get_json()["token_endpoint"] == f"{BASE}/oauth2/token"

    def test_is_reachable_through_the_whole_stack_under_the_fhir_base(
        self, web: FlaskClient
    ) -> None:
        resp = web.get("/fhir/.well-known/smart-configuration")
        assert resp.status_code == 200
        assert resp.get_json()["capabilities"]


class TestOpenIdConfiguration:
    def test_names_the_issuer_that_signs_id_tokens(self, web: FlaskClient) -> None:
        doc = web.get("/.well-known/openid-configuration").get_json()
        assert doc["issuer"] == BASE
        assert doc["jwks_uri"] == f"{BASE}/oauth2/jwks"
        assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
        assert doc["response_types_supported"] == ["code"]
        assert "fhirUser" in doc["claims_supported"]


class TestJwks:
    def test_serves_public_keys_only(self, web: FlaskClient) -> None:
        keys = web.get("/oauth2/jwks").get_json()["keys"]
        assert keys
        assert all("d" not in k and k["kty"] == "RSA" and k["alg"] == "RS256" for k in keys)

    def test_a_token_signed_before_rotation_still_verifies_after(
        self, web: FlaskClient, core: Any
    ) -> None:
        before = core.auth.keys.sign({"sub": "x"})
        old = jwt.decode(before, KeySet.import_key_set(web.get("/oauth2/jwks").get_json()))
        new_kid = core.auth.keys.rotate()
        jwks = web.get("/oauth2/jwks").get_json()
        kids = {k["kid"] for k in jwks["keys"]}
        assert new_kid in kids and old.header["kid"] in kids
        assert jwt.decode(before, KeySet.import_key_set(jwks)).claims["sub"] == "x"
        after = core.auth.keys.sign({"sub": "y"})
        assert jwt.decode(after, KeySet.import_key_set(jwks)).header["kid"] == new_kid
        raw, _ = core.auth.tokens.issue(client_id="c", scope="system/*.rs")
        core.auth.keys.rotate()
        assert core.auth.tokens.verify(raw).client_id == "c"


class TestSmartStyle:
    def test_token_responses_point_at_a_style_document(self, web: FlaskClient) -> None:
        doc = web.get("/oauth2/smart-style.json").get_json()
        assert doc["color_background"].startswith("#")


class TestCors:
    @pytest.mark.parametrize(
        "path",
        [
            "/.well-known/smart-configuration",
            "/.well-known/openid-configuration",
            "/oauth2/jwks",
            "/oauth2/smart-style.json",
        ],
    )
    def test_discovery_documents_allow_any_origin_without_credentials(
        self, web: FlaskClient, path: str
    ) -> None:
        resp = web.get(path, headers={"Origin": "https://app.example.org"})
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in resp.headers

    @pytest.mark.parametrize("path", ["/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"])
    def test_token_endpoints_answer_preflight(self, web: FlaskClient, path: str) -> None:
        resp = web.options(
            path,
            headers={
                "Origin": "https://app.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert resp.status_code == 204
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in resp.headers["Access-Control-Allow-Headers"]

    def test_token_errors_carry_cors_headers_too(self, web: FlaskClient) -> None:
        resp = web.post("/oauth2/token", data={"grant_type": "password"})
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "unsupported_grant_type"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"

    def test_the_consent_and_launch_endpoints_grant_no_cors(self, web: FlaskClient) -> None:
        assert "Access-Control-Allow-Origin" not in web.get("/oauth2/authorize").headers
        assert "Access-Control-Allow-Origin" not in web.post("/oauth2/launch").headers


def test_fhir_base_constant_matches_settings(core: Any) -> None:
    assert core.settings.fhir_base_url == FHIR_BASE
