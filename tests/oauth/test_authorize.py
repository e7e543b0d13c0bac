"""The authorization endpoint: sign-in, consent, and every malformed or hostile request.

Errors about the client or its redirect URI are shown as a page and never redirected to
(open-redirect protection); every other error goes back to the validated redirect URI with
the spec's ``error`` and the request's ``state``. A refused request writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from platform_core.identity.users import User
from platform_core.oauth.clients import Client, register_client
from tests.oauth.conftest import (
    APP_REDIRECT,
    AuditTrail,
    Person,
    auth_request,
    csrf_of,
    decide,
    redirect_params,
    sign_in,
)


def assert_error_page(resp: Any, error: str) -> None:
    """An error shown to the user, with no redirect anywhere."""
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.mimetype == "text/html"
    assert f"<code>{error}</code>" in resp.get_data(as_text=True)


def assert_redirected_error(resp: Any, error: str, state: str, to: str = APP_REDIRECT) -> None:
    params = redirect_params(resp)
    assert resp.headers["Location"].startswith(to + "?")
    assert params["error"] == error
    assert params["state"] == state
    assert "code" not in params


class TestSignIn:
    def test_an_anonymous_visitor_is_sent_to_the_login_page_and_back(
        self, app: Flask, web: FlaskClient, public_client: Client, make_user: Callable[..., User]
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert resp.status_code == 302
        login = urlsplit(resp.headers["Location"])
        assert login.path == "/auth/login"
        next_path = parse_qs(login.query)["next"][0]
        assert next_path.startswith("/oauth2/authorize?")
        assert parse_qs(urlsplit(next_path).query)["state"] == [req.state]
        # The real login page brings the user back to the same request.
        user = make_user("patient", password="correct horse battery")
        page = web.get(resp.headers["Location"])
        back = web.post(
            "/auth/login",
            data={
                "email": user.email,
                "password": "correct horse battery",
                "next": next_path,
                "csrf_token": csrf_of(page),
            },
        )
        assert back.status_code == 303
        assert back.headers["Location"].endswith(next_path)
        consent = web.get(next_path)
        assert consent.status_code == 200
        assert "Growth Chart" in consent.get_data(as_text=True)

    def test_prompt_none_without_a_session_answers_login_required(
        self, web: FlaskClient, public_client: Client
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs", prompt="none")
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "login_required", req.state)

    def test_an_anonymous_authorize_post_is_sent_to_login_with_its_parameters(
        self, web: FlaskClient, public_client: Client
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        resp = web.post("/oauth2/authorize", data=req.params)
        assert resp.status_code == 302
        next_path = parse_qs(urlsplit(resp.headers["Location"]).query)["next"][0]
        assert parse_qs(urlsplit(next_path).query)["code_challenge"] == [req.pkce.challenge]


class TestConsent:
    def test_the_page_lists_the_scopes_in_plain_words(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid fhirUser patient/Observation.rs offline_access")
        page = web.get("/oauth2/authorize", query_string=req.params)
        text = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Read and search observation records of the selected patient" in text
        assert "Keep access after you sign out" in text
        assert 'id="approve"' in text and 'id="deny"' in text
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"

    def test_approve_redirects_with_a_code_and_the_state(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        before = counts()
        params = redirect_params(decide(web, req))
        assert params["state"] == req.state
        assert len(params["code"]) >= 40
        after = counts()
        assert after["oauth_authorization_code"] == before["oauth_authorization_code"] + 1

    def test_deny_redirects_with_access_denied_and_stores_nothing(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        before = counts()
        resp = decide(web, req, "deny")
        assert_redirected_error(resp, "access_denied", req.state)
        assert counts() == before

    def test_each_decision_is_audited_with_the_user_client_and_scopes(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        audit: AuditTrail,
    ) -> None:
        decide(web, auth_request(public_client, "openid patient/*.rs"), "deny")
        decide(web, auth_request(public_client, "openid patient/*.rs"))
        records = [r for r in audit.records if r.kind == "consent"]
        assert [r.subtype for r in records] == ["deny", "approve"]
        for record in records:
            assert record.who == f"Patient/{patient_user.patient_id}"
            assert record.client_id == public_client.client_id
            assert record.description.endswith("openid patient/*.rs")
            assert record.outcome == "0"

    def test_a_decision_without_the_csrf_token_is_refused(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        web.get("/oauth2/authorize", query_string=req.params)
        before = counts()
        resp = web.post("/oauth2/authorize", data={**req.params, "_decision": "approve"})
        assert resp.status_code == 400
        assert "Location" not in resp.headers
        forged = {**req.params, "_decision": "approve", "csrf_token": "forged"}
        assert web.post("/oauth2/authorize", data=forged).status_code == 400
        assert counts() == before

    def test_authorize_by_post_shows_the_same_consent(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        page = web.post("/oauth2/authorize", data=req.params)
        assert page.status_code == 200
        form = {**req.params, "csrf_token": csrf_of(page), "_decision": "approve"}
        params = redirect_params(web.post("/oauth2/authorize", data=form))
        assert params["state"] == req.state and params["code"]

    def test_prompt_none_with_a_session_answers_consent_required(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs", prompt="none")
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "consent_required", req.state)


class TestRedirectUri:
    """Never redirect to a URI that is not registered, exactly, for the client."""

    @pytest.mark.parametrize(
        "uri",
        [
            "https://evil.example.com/callback",
            APP_REDIRECT + "/extra",
            APP_REDIRECT + "?next=https://evil.example.com",
            APP_REDIRECT.upper(),
            APP_REDIRECT + "#frag",
            "https://app.example.org.evil.com/callback",
            "//evil.example.com/callback",
        ],
    )
    def test_an_unregistered_redirect_uri_is_shown_not_followed(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        counts: Any,
        uri: str,
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs", redirect_uri=uri)
        before = counts()
        assert_error_page(web.get("/oauth2/authorize", query_string=req.params), "invalid_request")
        assert_error_page(web.post("/oauth2/authorize", data=req.params), "invalid_request")
        assert counts() == before

    def test_even_a_forged_approval_to_an_unregistered_uri_is_not_followed(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        good = auth_request(public_client, "openid patient/*.rs")
        page = web.get("/oauth2/authorize", query_string=good.params)
        before = counts()
        form = {
            **good.params,
            "redirect_uri": "https://evil.example.com/cb",
            "csrf_token": csrf_of(page),
            "_decision": "approve",
        }
        assert_error_page(web.post("/oauth2/authorize", data=form), "invalid_request")
        assert counts() == before

    def test_a_second_redirect_uri_parameter_is_refused_on_a_page(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        query = [*req.params.items(), ("redirect_uri", "https://evil.example.com/cb")]
        assert_error_page(web.get("/oauth2/authorize", query_string=query), "invalid_request")

    def test_a_missing_redirect_uri_is_refused_on_a_page(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        del req.params["redirect_uri"]
        assert_error_page(web.get("/oauth2/authorize", query_string=req.params), "invalid_request")

    def test_an_unknown_client_is_refused_on_a_page(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        req.params["client_id"] = "no-such-client"
        assert_error_page(web.get("/oauth2/authorize", query_string=req.params), "invalid_client")

    def test_a_client_is_not_sent_back_to_another_clients_uri(
        self, web: FlaskClient, public_client: Client, patient_user: Person, db: sa.Engine
    ) -> None:
        other = register_client(
            db,
            name="Other",
            kind="public",
            scope="patient/*.rs",
            redirect_uris=["https://other.example.org/cb"],
        ).client
        req = auth_request(other, "patient/*.rs", redirect_uri=APP_REDIRECT)
        assert_error_page(web.get("/oauth2/authorize", query_string=req.params), "invalid_request")

    def test_a_loopback_redirect_uri_is_matched_exactly_too(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        ok = auth_request(public_client, "patient/*.rs", redirect_uri="http://localhost:9000/cb")
        assert web.get("/oauth2/authorize", query_string=ok.params).status_code == 200
        bad = auth_request(public_client, "patient/*.rs", redirect_uri="http://localhost:9001/cb")
        assert_error_page(web.get("/oauth2/authorize", query_string=bad.params), "invalid_request")


class TestPkce:
    @pytest.mark.parametrize(
        "change",
        [
            {"code_challenge_method": "plain"},
            {"code_challenge_method": None},
            {"code_challenge": None, "code_challenge_method": None},
            {"code_challenge": None},
            {"code_challenge": "short"},
        ],
        ids=["plain", "no-method", "no-pkce", "no-challenge", "malformed"],
    )
    def test_anything_but_s256_is_refused(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        counts: Any,
        change: dict[str, str | None],
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        for key, value in change.items():
            if value is None:
                req.params.pop(key, None)
            else:
                req.params[key] = value
        before = counts()
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "invalid_request", req.state)
        assert counts() == before

    def test_a_confidential_client_needs_pkce_as_well(
        self, web: FlaskClient, symmetric_client: Any, patient_user: Person
    ) -> None:
        req = auth_request(symmetric_client.client, "openid patient/*.rs")
        del req.params["code_challenge"], req.params["code_challenge_method"]
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "invalid_request", req.state, "https://portal.example.org/cb")


class TestAudience:
    @pytest.mark.parametrize(
        "aud", ["https://evil.example.com/fhir", "http://testserver", "http://testserver/fhir/x"]
    )
    def test_a_foreign_aud_is_refused(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any, aud: str
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs", aud=aud)
        before = counts()
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "invalid_request", req.state)
        assert "aud" in redirect_params(resp)["error_description"]
        assert counts() == before

    def test_a_missing_aud_is_refused(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        del req.params["aud"]
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "invalid_request", req.state)

    def test_a_trailing_slash_on_aud_is_accepted(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs", aud="http://testserver/fhir/")
        assert web.get("/oauth2/authorize", query_string=req.params).status_code == 200


class TestScopes:
    def test_malformed_scopes_are_invalid_scope(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        for scope in ("patient/Observation.xyz", "patient/observation.read", "email", "ünï"):
            req = auth_request(public_client, f"openid {scope}")
            resp = web.get("/oauth2/authorize", query_string=req.params)
            assert_redirected_error(resp, "invalid_scope", req.state)

    def test_scopes_beyond_the_clients_are_dropped_silently(
        self, web: FlaskClient, db: sa.Engine, patient_user: Person
    ) -> None:
        narrow = register_client(
            db,
            name="Narrow",
            kind="public",
            scope="openid patient/Observation.rs",
            redirect_uris=[APP_REDIRECT],
        ).client
        req = auth_request(
            narrow, "openid patient/Observation.read patient/Observation.rs user/*.cruds"
        )
        page = web.get("/oauth2/authorize", query_string=req.params).get_data(as_text=True)
        shown = re.findall(r'data-scope="([^"]+)"', page)
        assert shown == ["openid", "patient/Observation.read", "patient/Observation.rs"]

    def test_nothing_left_after_narrowing_is_invalid_scope(
        self, web: FlaskClient, db: sa.Engine, patient_user: Person
    ) -> None:
        narrow = register_client(
            db, name="N", kind="public", scope="openid", redirect_uris=[APP_REDIRECT]
        ).client
        req = auth_request(narrow, "user/*.cruds system/*.rs")
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "invalid_scope", req.state)

    def test_system_scopes_are_never_granted_to_a_user(
        self, web: FlaskClient, symmetric_client: Any, patient_user: Person
    ) -> None:
        req = auth_request(symmetric_client.client, "openid system/*.rs patient/*.rs")
        page = web.get("/oauth2/authorize", query_string=req.params).get_data(as_text=True)
        assert re.findall(r'data-scope="([^"]+)"', page) == ["openid", "patient/*.rs"]

    def test_launch_without_a_launch_value_is_dropped(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "launch patient/*.rs")
        page = web.get("/oauth2/authorize", query_string=req.params).get_data(as_text=True)
        assert re.findall(r'data-scope="([^"]+)"', page) == ["patient/*.rs"]

    def test_an_unsupported_response_type_goes_back_to_the_app(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "patient/*.rs", response_type="token")
        resp = web.get("/oauth2/authorize", query_string=req.params)
        assert_redirected_error(resp, "unsupported_response_type", req.state)


def test_a_suspended_user_is_not_signed_in(
    app: Flask, web: FlaskClient, public_client: Client, make_user: Callable[..., User], db: Any
) -> None:
    from platform_core.identity.users import set_status

    user = make_user("patient")
    sign_in(app, web, user)
    set_status(db, user.id, "suspended")
    req = auth_request(public_client, "patient/*.rs")
    resp = web.get("/oauth2/authorize", query_string=req.params)
    assert resp.status_code == 302 and "/auth/login" in resp.headers["Location"]
