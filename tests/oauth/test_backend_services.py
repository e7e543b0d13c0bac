"""SMART Backend Services: client credentials with ``private_key_jwt`` (RS384, ES384, inline
keys or ``jwks_uri``), and every way to forge, replay or stretch an assertion."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from joserfc.jwk import ECKey, RSAKey

from platform_core.oauth.clients import Client, register_client
from tests.oauth.conftest import (
    SYSTEM_SCOPES,
    TOKEN_URL,
    Backend,
    Confidential,
    assertion,
    backend_form,
    basic,
    only_changed,
    public_jwks,
)


def token(web: FlaskClient, form: dict[str, str], **kw: Any) -> Any:
    return web.post("/oauth2/token", data=form, **kw)


def assert_invalid_client(resp: Any) -> None:
    assert resp.status_code == 401, resp.get_json()
    assert resp.get_json()["error"] == "invalid_client"
    assert "WWW-Authenticate" in resp.headers
    assert resp.headers["Cache-Control"] == "no-store"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def claims_for(client_id: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        **extra,
    }


class TestIssue:
    def test_rs384_assertion_buys_a_system_token(
        self, web: FlaskClient, backend: Backend, core: Any, audit: Any
    ) -> None:
        resp = token(web, backend_form(assertion(backend.client.client_id, backend.key)))
        assert resp.status_code == 200, resp.get_json()
        assert resp.headers["Cache-Control"] == "no-store"
        assert resp.headers["Pragma"] == "no-cache"
        body = resp.get_json()
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "system/*.rs"
        assert "refresh_token" not in body and "id_token" not in body
        access = core.auth.tokens.verify(body["access_token"])
        assert access.client_id == backend.client.client_id
        assert access.user_id is None
        [record] = audit.tokens()
        assert (record.outcome, record.subtype, record.who) == ("0", "client_credentials", None)
        assert record.client_id == backend.client.client_id

    def test_es384_assertion_works_too(
        self, web: FlaskClient, db: sa.Engine, ec_key: ECKey
    ) -> None:
        client = register_client(
            db,
            name="EC backend",
            kind="confidential-asymmetric",
            scope="system/*.rs",
            jwks=public_jwks(ec_key),
        ).client
        resp = token(web, backend_form(assertion(client.client_id, ec_key, alg="ES384")))
        assert resp.status_code == 200, resp.get_json()

    def test_scopes_are_narrowed_to_the_clients_system_scopes(
        self, web: FlaskClient, backend: Backend
    ) -> None:
        form = backend_form(
            assertion(backend.client.client_id, backend.key),
            scope="system/Patient.rs system/Observation.cruds patient/*.rs",
        )
        resp = token(web, form)
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["scope"] == "system/Patient.rs"

    @pytest.mark.parametrize("scope", ["patient/*.rs user/*.rs", "system/*.cruds", "", "launch"])
    def test_nothing_grantable_is_invalid_scope(
        self, web: FlaskClient, backend: Backend, counts: Any, scope: str
    ) -> None:
        before = counts()
        resp = token(web, backend_form(assertion(backend.client.client_id, backend.key), scope))
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_scope"
        # The assertion was validly signed, so its jti is spent; nothing else changed.
        assert only_changed(before, counts()) == {"oauth_jti": 1}

    def test_a_symmetric_client_may_use_its_secret(
        self, web: FlaskClient, symmetric_client: Confidential
    ) -> None:
        client = symmetric_client.client
        form = {"grant_type": "client_credentials", "scope": "system/*.rs"}
        resp = token(web, form, headers=basic(client.client_id, symmetric_client.secret))
        assert resp.status_code == 200, resp.get_json()
        resp = token(
            web, {**form, "client_id": client.client_id, "client_secret": symmetric_client.secret}
        )
        assert resp.status_code == 200

    def test_a_public_client_cannot_use_client_credentials(
        self, web: FlaskClient, public_client: Client, counts: Any
    ) -> None:
        before = counts()
        resp = token(
            web,
            {
                "grant_type": "client_credentials",
                "scope": "system/*.rs",
                "client_id": public_client.client_id,
            },
        )
        assert_invalid_client(resp)
        assert counts() == before

    def test_a_client_without_the_grant_is_unauthorized_client(
        self, web: FlaskClient, db: sa.Engine, rsa_key: RSAKey
    ) -> None:
        client = register_client(
            db,
            name="Code only",
            kind="confidential-asymmetric",
            scope="patient/*.rs system/*.rs",
            jwks=public_jwks(rsa_key),
            grant_types=["authorization_code"],
            redirect_uris=["https://x.example.org/cb"],
        ).client
        resp = token(web, backend_form(assertion(client.client_id, rsa_key)))
        assert resp.get_json()["error"] == "unauthorized_client"


class TestAttacks:
    """Each forged or replayed assertion is ``invalid_client`` (401) and writes nothing."""

    @pytest.fixture(autouse=True)
    def baseline(self, counts: Any, audit: Any, backend: Backend) -> Iterator[Callable[[], None]]:
        """Row counts before the attack; call it to take them again (after a legit use)."""
        state = {"before": counts()}
        yield lambda: state.update(before=counts())
        assert counts() == state["before"]
        assert [r.outcome for r in audit.tokens()][-1:] == ["4"]

    def test_a_replayed_jti_is_refused(
        self, web: FlaskClient, backend: Backend, baseline: Callable[[], None]
    ) -> None:
        jti = uuid.uuid4().hex
        first = token(web, backend_form(assertion(backend.client.client_id, backend.key, jti=jti)))
        assert first.status_code == 200
        baseline()
        again = assertion(backend.client.client_id, backend.key, jti=jti)
        assert_invalid_client(token(web, backend_form(again)))

    def test_the_same_assertion_twice_is_refused(
        self, web: FlaskClient, backend: Backend, baseline: Callable[[], None]
    ) -> None:
        signed = assertion(backend.client.client_id, backend.key)
        assert token(web, backend_form(signed)).status_code == 200
        baseline()
        assert_invalid_client(token(web, backend_form(signed)))

    def test_an_expired_assertion(self, web: FlaskClient, backend: Backend) -> None:
        signed = assertion(backend.client.client_id, backend.key, exp_in=-120)
        assert_invalid_client(token(web, backend_form(signed)))

    def test_an_assertion_valid_for_more_than_five_minutes(
        self, web: FlaskClient, backend: Backend
    ) -> None:
        signed = assertion(backend.client.client_id, backend.key, exp_in=3600)
        assert_invalid_client(token(web, backend_form(signed)))

    def test_a_tampered_payload(self, web: FlaskClient, backend: Backend) -> None:
        signed = assertion(backend.client.client_id, backend.key)
        head, payload, sig = signed.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
        claims["exp"] += 100
        forged = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
        assert_invalid_client(token(web, backend_form(forged)))

    def test_a_signature_by_another_key(self, web: FlaskClient, backend: Backend) -> None:
        other = RSAKey.generate_key(2048, parameters={"kid": backend.key.kid}, private=True)
        assert_invalid_client(token(web, backend_form(assertion(backend.client.client_id, other))))

    def test_rs256_is_not_accepted(self, web: FlaskClient, backend: Backend) -> None:
        signed = assertion(backend.client.client_id, backend.key, alg="RS256")
        assert_invalid_client(token(web, backend_form(signed)))

    def test_alg_none_is_not_accepted(self, web: FlaskClient, backend: Backend) -> None:
        claims = claims_for(backend.client.client_id)
        forged = hand_made({"alg": "none", "typ": "JWT"}, claims, lambda _data: b"")
        assert_invalid_client(token(web, backend_form(forged)))

    def test_hs256_keyed_with_the_public_key_is_not_accepted(
        self, web: FlaskClient, backend: Backend
    ) -> None:
        secret = json.dumps(backend.key.as_dict(private=False)).encode()
        claims = claims_for(backend.client.client_id)
        forged = hand_made(
            {"alg": "HS256", "typ": "JWT", "kid": backend.key.kid},
            claims,
            lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
        )
        assert_invalid_client(token(web, backend_form(forged)))

    @pytest.mark.parametrize(
        "aud", [f"{TOKEN_URL}/", "http://testserver", "https://evil.example.com/oauth2/token"]
    )
    def test_another_audience(self, web: FlaskClient, backend: Backend, aud: str) -> None:
        signed = assertion(backend.client.client_id, backend.key, aud=aud)
        assert_invalid_client(token(web, backend_form(signed)))

    def test_iss_different_from_sub(self, web: FlaskClient, backend: Backend) -> None:
        signed = assertion(backend.client.client_id, backend.key, iss="someone-else")
        assert_invalid_client(token(web, backend_form(signed)))

    def test_no_jti(self, web: FlaskClient, backend: Backend) -> None:
        claims = claims_for(backend.client.client_id)
        del claims["jti"]
        from joserfc import jwt

        signed = jwt.encode(
            {"alg": "RS384", "kid": backend.key.kid}, claims, backend.key, algorithms=["RS384"]
        )
        assert_invalid_client(token(web, backend_form(signed)))

    def test_an_unknown_client(self, web: FlaskClient, backend: Backend) -> None:
        assert_invalid_client(token(web, backend_form(assertion("nobody", backend.key))))

    def test_garbage(self, web: FlaskClient, backend: Backend) -> None:
        assert_invalid_client(token(web, backend_form("not.a.jwt")))

    def test_a_disabled_client(self, web: FlaskClient, backend: Backend, db: sa.Engine) -> None:
        from platform_core.oauth.clients import set_client_active

        set_client_active(db, backend.client.client_id, False)
        signed = assertion(backend.client.client_id, backend.key)
        assert_invalid_client(token(web, backend_form(signed)))
        set_client_active(db, backend.client.client_id, True)


class _JwksHandler(BaseHTTPRequestHandler):
    jwks: dict[str, Any] = {}
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        body = json.dumps(type(self).jwks).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, type[_JwksHandler]]]:
    handler = type("Handler", (_JwksHandler,), {"jwks": {}, "hits": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", handler
    finally:
        server.shutdown()
        thread.join(5)


class TestJwksUri:
    def test_keys_are_fetched_cached_and_refetched_for_a_new_kid(
        self,
        web: FlaskClient,
        db: sa.Engine,
        rsa_key: RSAKey,
        jwks_server: Any,
        no_jwks_cache: None,
    ) -> None:
        url, handler = jwks_server
        handler.jwks = public_jwks(rsa_key)
        client = register_client(
            db,
            name="Remote keys",
            kind="confidential-asymmetric",
            scope=SYSTEM_SCOPES,
            jwks_uri=url,
        ).client
        for _ in range(3):
            resp = token(web, backend_form(assertion(client.client_id, rsa_key)))
            assert resp.status_code == 200, resp.get_json()
        assert handler.hits == 1
        # The client rotates its key: an unknown kid makes the server look again (once the
        # short refetch guard has passed).
        new_key = ECKey.generate_key("P-384", parameters={"kid": "ec-rotated"}, private=True)
        handler.jwks = public_jwks(rsa_key, new_key)
        cache = web.application.extensions["fireside_oauth"].jwks
        cache._fetched[url] = (cache._fetched[url][0] - 60, cache._fetched[url][1])
        resp = token(web, backend_form(assertion(client.client_id, new_key, alg="ES384")))
        assert resp.status_code == 200, resp.get_json()
        assert handler.hits == 2

    def test_an_unreachable_jwks_uri_is_invalid_client(
        self, web: FlaskClient, db: sa.Engine, rsa_key: RSAKey, no_jwks_cache: None
    ) -> None:
        client = register_client(
            db,
            name="Gone",
            kind="confidential-asymmetric",
            scope=SYSTEM_SCOPES,
            jwks_uri="http://127.0.0.1:9/jwks.json",
        ).client
        assert_invalid_client(token(web, backend_form(assertion(client.client_id, rsa_key))))
