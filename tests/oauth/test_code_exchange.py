"""Exchanging an authorization code: the tokens, the id token, client authentication, and
the attacks (wrong or missing PKCE verifier, another redirect URI, code reuse, expiry)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet

from platform_core.auth.keys import InvalidToken
from platform_core.fhir.instants import now_utc
from platform_core.oauth.clients import Client
from platform_core.oauth.schema import AuthorizationCodeRow
from tests.oauth.conftest import (
    BASE,
    FHIR_BASE,
    Confidential,
    Person,
    auth_request,
    basic,
    exchange,
    get_code,
    make_pkce,
    only_changed,
)

PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.rs offline_access"


def assert_token_error(resp: Any, error: str, status: int = 400) -> None:
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"] == error
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Pragma"] == "no-cache"


class TestPublicClient:
    def test_the_code_buys_an_access_token_with_the_launch_context(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        core: Any,
        audit: Any,
    ) -> None:
        req = auth_request(public_client, PATIENT_SCOPE)
        code = get_code(web, req, patient=patient_user.patient_id)
        resp = exchange(web, public_client, code, req)
        assert resp.status_code == 200, resp.get_json()
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Pragma"] == "no-cache"
        body = resp.get_json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == core.settings.access_token_ttl_s
        assert body["scope"] == PATIENT_SCOPE
        assert body["patient"] == patient_user.patient_id
        assert body["need_patient_banner"] is True
        assert body["smart_style_url"] == f"{BASE}/oauth2/smart-style.json"
        assert body["refresh_token"]
        token = core.auth.tokens.verify(body["access_token"])
        assert token.user_id == patient_user.user.id
        assert token.client_id == public_client.client_id
        assert token.patient == patient_user.patient_id
        assert token.fhir_user == f"Patient/{patient_user.patient_id}"
        assert token.generation == patient_user.user.token_generation
        [record] = audit.tokens()
        assert (record.outcome, record.subtype, record.action) == ("0", "authorization_code", "E")
        assert record.who == f"Patient/{patient_user.patient_id}"
        assert record.client_id == public_client.client_id

    def test_the_id_token_names_the_user_and_their_fhir_resource(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, PATIENT_SCOPE, nonce="n-0S6_WzA2Mj")
        code = get_code(web, req, patient=patient_user.patient_id)
        body = exchange(web, public_client, code, req).get_json()
        jwks = KeySet.import_key_set(web.get("/oauth2/jwks").get_json())
        id_token = jwt.decode(body["id_token"], jwks, algorithms=["RS256"])
        claims = id_token.claims
        assert id_token.header["alg"] == "RS256"
        assert claims["iss"] == BASE
        assert claims["aud"] == public_client.client_id
        assert claims["sub"] == patient_user.user.id
        assert claims["nonce"] == "n-0S6_WzA2Mj"
        assert claims["fhirUser"] == f"{FHIR_BASE}/Patient/{patient_user.patient_id}"
        assert claims["exp"] > claims["iat"]

    def test_without_openid_there_is_no_id_token_and_without_offline_no_refresh(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "patient/*.rs")
        body = exchange(web, public_client, get_code(web, req), req).get_json()
        assert "id_token" not in body and "refresh_token" not in body
        assert "patient" not in body

    def test_the_id_token_is_not_an_access_token(
        self, web: FlaskClient, public_client: Client, patient_user: Person, core: Any
    ) -> None:
        req = auth_request(public_client, "openid fhirUser patient/*.rs")
        body = exchange(web, public_client, get_code(web, req), req).get_json()
        with pytest.raises(InvalidToken):
            core.auth.tokens.verify(body["id_token"])


class TestPkceAtTheTokenEndpoint:
    @pytest.mark.parametrize(
        ("verifier", "error"),
        [
            (make_pkce().verifier, "invalid_grant"),
            ("", "invalid_request"),
            ("too-short", "invalid_request"),
        ],
        ids=["wrong", "missing", "malformed"],
    )
    def test_a_bad_verifier_is_refused_and_the_code_survives(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        counts: Any,
        audit: Any,
        verifier: str,
        error: str,
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        before = counts()
        resp = exchange(web, public_client, code, req, code_verifier=verifier)
        assert_token_error(resp, error)
        assert counts() == before
        [record] = audit.tokens()
        assert record.outcome == "4" and record.subtype == "authorization_code"
        # The right verifier still works: an attacker's guess does not burn the code.
        assert exchange(web, public_client, code, req).status_code == 200

    def test_the_plain_method_is_never_accepted_even_if_the_verifier_equals_the_challenge(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        resp = exchange(web, public_client, code, req, code_verifier=req.pkce.challenge)
        assert_token_error(resp, "invalid_grant")


class TestCodeRules:
    def test_a_reused_code_is_refused_and_revokes_what_it_issued(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        core: Any,
        refresh_form: Any,
    ) -> None:
        req = auth_request(public_client, PATIENT_SCOPE)
        code = get_code(web, req, patient=patient_user.patient_id)
        first = exchange(web, public_client, code, req).get_json()
        core.auth.tokens.verify(first["access_token"])
        again = exchange(web, public_client, code, req)
        assert_token_error(again, "invalid_grant")
        with pytest.raises(InvalidToken, match="revoked"):
            core.auth.tokens.verify(first["access_token"])
        refreshed = web.post("/oauth2/token", data=refresh_form(first["refresh_token"]))
        assert_token_error(refreshed, "invalid_grant")

    def test_a_code_for_another_redirect_uri_is_refused(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        before = counts()
        resp = exchange(web, public_client, code, req, redirect_uri="http://localhost:9000/cb")
        assert_token_error(resp, "invalid_grant")
        resp = exchange(web, public_client, code, req, redirect_uri="")
        assert_token_error(resp, "invalid_grant")
        assert counts() == before

    def test_a_code_is_only_good_for_the_client_it_was_issued_to(
        self,
        web: FlaskClient,
        public_client: Client,
        symmetric_client: Confidential,
        patient_user: Person,
        counts: Any,
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        before = counts()
        other = symmetric_client.client
        resp = exchange(
            web,
            other,
            code,
            req,
            headers=basic(other.client_id, symmetric_client.secret),
            client_id="",
        )
        assert_token_error(resp, "invalid_grant")
        assert counts() == before

    def test_an_expired_code_is_refused(
        self, web: FlaskClient, public_client: Client, patient_user: Person, db: sa.Engine
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        table = AuthorizationCodeRow.__table__
        with db.begin() as conn:
            conn.execute(sa.update(table).values(expires_at=now_utc() - timedelta(seconds=1)))
        assert_token_error(exchange(web, public_client, code, req), "invalid_grant")

    def test_codes_are_stored_hashed(
        self, web: FlaskClient, public_client: Client, patient_user: Person, db: sa.Engine
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        with db.connect() as conn:
            stored = conn.execute(sa.select(AuthorizationCodeRow.code_hash)).scalars().all()
        assert code not in stored and len(stored) == 1

    def test_an_unknown_code_is_invalid_grant(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "openid patient/*.rs")
        before = counts()
        assert_token_error(exchange(web, public_client, "nope", req), "invalid_grant")
        assert counts() == before

    def test_a_password_change_voids_a_pending_code(
        self, web: FlaskClient, public_client: Client, patient_user: Person, db: sa.Engine
    ) -> None:
        from platform_core.identity.users import set_password

        req = auth_request(public_client, "openid patient/*.rs")
        code = get_code(web, req)
        set_password(db, patient_user.user.id, "a brand new passphrase")
        assert_token_error(exchange(web, public_client, code, req), "invalid_grant")


class TestConfidentialSymmetricClient:
    def _code(self, web: FlaskClient, client: Client) -> tuple[str, Any]:
        req = auth_request(client, "openid patient/*.rs offline_access")
        return get_code(web, req), req

    def test_client_secret_basic(
        self, web: FlaskClient, symmetric_client: Confidential, patient_user: Person
    ) -> None:
        client = symmetric_client.client
        code, req = self._code(web, client)
        resp = exchange(
            web, client, code, req, headers=basic(client.client_id, symmetric_client.secret)
        )
        assert resp.status_code == 200, resp.get_json()

    def test_client_secret_post(
        self, web: FlaskClient, symmetric_client: Confidential, patient_user: Person
    ) -> None:
        client = symmetric_client.client
        code, req = self._code(web, client)
        resp = exchange(web, client, code, req, client_secret=symmetric_client.secret)
        assert resp.status_code == 200, resp.get_json()

    @pytest.mark.parametrize("how", ["basic", "post", "none"])
    def test_a_wrong_or_missing_secret_is_invalid_client_401(
        self,
        web: FlaskClient,
        symmetric_client: Confidential,
        patient_user: Person,
        counts: Any,
        how: str,
    ) -> None:
        client = symmetric_client.client
        code, req = self._code(web, client)
        before = counts()
        if how == "basic":
            resp = exchange(web, client, code, req, headers=basic(client.client_id, "x" * 40))
        elif how == "post":
            resp = exchange(web, client, code, req, client_secret="x" * 40)
        else:
            resp = exchange(web, client, code, req)
        assert_token_error(resp, "invalid_client", 401)
        assert "WWW-Authenticate" in resp.headers
        assert counts() == before
        assert (
            exchange(web, client, code, req, client_secret=symmetric_client.secret).status_code
            == 200
        )

    def test_a_secret_is_stored_only_as_a_hash(
        self, symmetric_client: Confidential, db: sa.Engine
    ) -> None:
        from platform_core.oauth.schema import ClientRow

        with db.connect() as conn:
            stored = conn.execute(sa.select(ClientRow.secret_hash)).scalars().all()
        assert symmetric_client.secret not in stored


class TestTokenEndpointBasics:
    def test_get_is_not_allowed(self, web: FlaskClient) -> None:
        assert web.get("/oauth2/token").status_code == 405

    def test_an_unknown_grant_type(self, web: FlaskClient, audit: Any) -> None:
        resp = web.post("/oauth2/token", data={"grant_type": "password", "username": "x"})
        assert_token_error(resp, "unsupported_grant_type")
        assert [r.outcome for r in audit.tokens()] == ["4"]

    def test_an_unknown_public_client(self, web: FlaskClient, counts: Any) -> None:
        before = counts()
        resp = web.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": "x", "client_id": "nobody"},
        )
        assert_token_error(resp, "invalid_client", 401)
        assert counts() == before

    def test_the_code_grant_changes_only_the_expected_tables(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, PATIENT_SCOPE)
        code = get_code(web, req, patient=patient_user.patient_id)
        before = counts()
        assert exchange(web, public_client, code, req).status_code == 200
        changed = only_changed(before, counts())
        assert changed.pop("oauth_signing_key", 1) == 1  # the first token makes a key
        assert changed == {"oauth_grant": 1, "oauth_refresh_token": 1, "oauth_access_token": 1}
