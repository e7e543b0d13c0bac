"""Introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from platform_core.auth.keys import InvalidToken
from platform_core.oauth.clients import Client
from tests.oauth.conftest import (
    AuditTrail,
    Backend,
    Confidential,
    Person,
    assertion,
    backend_form,
    basic,
)

OFFLINE = "openid fhirUser launch/patient patient/*.rs offline_access"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def system_token(web: FlaskClient, backend: Backend) -> str:
    resp = web.post(
        "/oauth2/token", data=backend_form(assertion(backend.client.client_id, backend.key))
    )
    return str(resp.get_json()["access_token"])


def introspect_as_backend(web: FlaskClient, backend: Backend, token: str) -> Any:
    return web.post(
        "/oauth2/introspect",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(backend.client.client_id, backend.key),
        },
    )


class TestIntrospection:
    def test_a_resource_server_with_a_system_token_sees_a_user_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        system_token: str,
        patient_user: Person,
        public_client: Client,
    ) -> None:
        access = tokens_for(OFFLINE)["access_token"]
        resp = web.post(
            "/oauth2/introspect",
            data={"token": access},
            headers={"Authorization": f"Bearer {system_token}"},
        )
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "no-store"
        body = resp.get_json()
        assert body["active"] is True
        assert body["scope"] == OFFLINE
        assert body["client_id"] == public_client.client_id
        assert body["sub"] == patient_user.user.id
        assert body["patient"] == patient_user.patient_id
        assert body["fhirUser"] == f"Patient/{patient_user.patient_id}"
        assert body["token_type"] == "Bearer"
        assert body["exp"] > body["iat"]

    def test_a_client_introspects_its_own_tokens_by_private_key_jwt(
        self, web: FlaskClient, backend: Backend, system_token: str
    ) -> None:
        body = introspect_as_backend(web, backend, system_token).get_json()
        assert body["active"] is True
        assert body["client_id"] == backend.client.client_id

    def test_a_client_learns_nothing_about_another_clients_token(
        self, web: FlaskClient, backend: Backend, tokens_for: Callable[..., Any]
    ) -> None:
        access = tokens_for(OFFLINE)["access_token"]
        assert introspect_as_backend(web, backend, access).get_json() == {"active": False}

    def test_a_symmetric_client_authenticates_with_its_secret(
        self, web: FlaskClient, symmetric_client: Confidential
    ) -> None:
        client = symmetric_client.client
        resp = web.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": "system/*.rs"},
            headers=basic(client.client_id, symmetric_client.secret),
        )
        own = resp.get_json()["access_token"]
        body = web.post(
            "/oauth2/introspect",
            data={"token": own, "token_type_hint": "access_token"},
            headers=basic(client.client_id, symmetric_client.secret),
        ).get_json()
        assert body["active"] is True

    def test_refresh_tokens_can_be_introspected(
        self, web: FlaskClient, tokens_for: Callable[..., Any], system_token: str
    ) -> None:
        refresh = tokens_for(OFFLINE)["refresh_token"]
        body = web.post(
            "/oauth2/introspect",
            data={"token": refresh, "token_type_hint": "refresh_token"},
            headers={"Authorization": f"Bearer {system_token}"},
        ).get_json()
        assert body["active"] is True and body["scope"] == OFFLINE

    @pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 300])
    def test_unknown_tokens_are_inactive(
        self, web: FlaskClient, system_token: str, token: str
    ) -> None:
        body = web.post(
            "/oauth2/introspect",
            data={"token": token},
            headers={"Authorization": f"Bearer {system_token}"},
        ).get_json()
        assert body == {"active": False}

    def test_a_public_client_may_not_introspect(
        self, web: FlaskClient, public_client: Client, tokens_for: Callable[..., Any]
    ) -> None:
        access = tokens_for(OFFLINE)["access_token"]
        resp = web.post(
            "/oauth2/introspect", data={"token": access, "client_id": public_client.client_id}
        )
        assert resp.status_code == 401
        assert resp.get_json()["error"] == "invalid_client"

    def test_a_user_token_may_not_introspect(
        self, web: FlaskClient, tokens_for: Callable[..., Any]
    ) -> None:
        access = tokens_for("openid user/*.cruds")["access_token"]
        resp = web.post(
            "/oauth2/introspect",
            data={"token": access},
            headers={"Authorization": f"Bearer {access}"},
        )
        assert resp.status_code == 403
        assert resp.get_json()["error"] == "insufficient_scope"

    def test_a_missing_token_is_invalid_request(self, web: FlaskClient, system_token: str) -> None:
        resp = web.post(
            "/oauth2/introspect", data={}, headers={"Authorization": f"Bearer {system_token}"}
        )
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_request"


class TestRevocation:
    def test_revoking_an_access_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        public_client: Client,
        core: Any,
        system_token: str,
    ) -> None:
        body = tokens_for(OFFLINE)
        resp = web.post(
            "/oauth2/revoke",
            data={"token": body["access_token"], "client_id": public_client.client_id},
        )
        assert resp.status_code == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        with pytest.raises(InvalidToken, match="revoked"):
            core.auth.tokens.verify(body["access_token"])
        introspected = web.post(
            "/oauth2/introspect",
            data={"token": body["access_token"]},
            headers={"Authorization": f"Bearer {system_token}"},
        ).get_json()
        assert introspected == {"active": False}

    def test_revoking_a_refresh_token_revokes_its_family(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        public_client: Client,
        refresh_form: Callable[..., dict[str, str]],
        core: Any,
    ) -> None:
        body = tokens_for(OFFLINE)
        resp = web.post(
            "/oauth2/revoke",
            data={
                "token": body["refresh_token"],
                "token_type_hint": "refresh_token",
                "client_id": public_client.client_id,
            },
        )
        assert resp.status_code == 200
        with pytest.raises(InvalidToken, match="revoked"):
            core.auth.tokens.verify(body["access_token"])
        again = web.post("/oauth2/token", data=refresh_form(body["refresh_token"]))
        assert again.get_json()["error"] == "invalid_grant"

    def test_an_unknown_token_answers_200_and_changes_nothing(
        self, web: FlaskClient, public_client: Client, counts: Any
    ) -> None:
        before = counts()
        resp = web.post(
            "/oauth2/revoke", data={"token": "nothing", "client_id": public_client.client_id}
        )
        assert resp.status_code == 200
        assert counts() == before

    def test_a_client_cannot_revoke_another_clients_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        symmetric_client: Confidential,
        core: Any,
        counts: Any,
    ) -> None:
        body = tokens_for(OFFLINE)
        before = counts()
        client = symmetric_client.client
        resp = web.post(
            "/oauth2/revoke",
            data={"token": body["refresh_token"]},
            headers=basic(client.client_id, symmetric_client.secret),
        )
        assert resp.status_code == 400
        assert counts() == before
        core.auth.tokens.verify(body["access_token"])

    def test_revocation_needs_client_authentication(
        self, web: FlaskClient, tokens_for: Callable[..., Any], counts: Any
    ) -> None:
        body = tokens_for(OFFLINE)
        before = counts()
        resp = web.post("/oauth2/revoke", data={"token": body["access_token"]})
        assert resp.status_code == 401
        assert resp.get_json()["error"] == "invalid_client"
        assert counts() == before

    def test_a_backend_revokes_its_own_token(
        self, web: FlaskClient, backend: Backend, system_token: str, core: Any
    ) -> None:
        resp = web.post(
            "/oauth2/revoke",
            data={
                "token": system_token,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(backend.client.client_id, backend.key),
            },
        )
        assert resp.status_code == 200
        with pytest.raises(InvalidToken):
            core.auth.tokens.verify(system_token)


class TestAudit:
    """Introspection and revocation requests are audited with their caller and outcome,
    never with the token."""

    def test_an_introspection_is_recorded_with_its_caller_and_result(
        self,
        web: FlaskClient,
        backend: Backend,
        system_token: str,
        audit: AuditTrail,
    ) -> None:
        web.post(
            "/oauth2/introspect",
            data={"token": "not-a-token"},
            headers={"Authorization": f"Bearer {system_token}"},
        )
        introspect_as_backend(web, backend, system_token)
        records = [r for r in audit.tokens() if r.subtype == "introspect"]
        assert [(r.outcome, r.client_id, r.description) for r in records] == [
            ("0", backend.client.client_id, "token not active"),
            ("0", backend.client.client_id, "token active"),
        ]
        assert all(system_token not in repr(r) for r in audit.records)

    def test_a_refused_introspection_is_recorded_as_a_failure(
        self, web: FlaskClient, symmetric_client: Confidential, audit: AuditTrail
    ) -> None:
        resp = web.post(
            "/oauth2/introspect",
            data={"token": "x"},
            headers=basic(symmetric_client.client.client_id, "wrong secret"),
        )
        assert resp.status_code == 401
        (record,) = [r for r in audit.tokens() if r.subtype == "introspect"]
        assert record.outcome == "4" and record.description.startswith("invalid_client")
        assert record.client_id == symmetric_client.client.client_id

    def test_a_revocation_is_recorded(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        public_client: Client,
        audit: AuditTrail,
    ) -> None:
        access = tokens_for(OFFLINE)["access_token"]
        web.post("/oauth2/revoke", data={"token": access, "client_id": public_client.client_id})
        (record,) = [r for r in audit.tokens() if r.subtype == "revoke"]
        assert (record.outcome, record.client_id) == ("0", public_client.client_id)
        assert record.remote_addr == "127.0.0.1"
        assert access not in repr(record)
