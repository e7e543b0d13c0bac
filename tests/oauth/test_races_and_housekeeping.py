"""What happens when two requests race for one code or one refresh token, and the sweeping
of records that can no longer be used."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from authlib.oauth2.rfc6749 import InvalidGrantError
from flask.testing import FlaskClient

from platform_core.auth.keys import InvalidToken
from platform_core.fhir.instants import now_utc
from platform_core.identity.users import get_user
from platform_core.oauth import codes, families
from platform_core.oauth.clients import Client
from platform_core.oauth.schema import IssuedAccessTokenRow, RefreshTokenRow
from tests.oauth.conftest import Backend, Person, assertion, auth_request, backend_form, get_code


def test_a_code_spent_by_a_concurrent_request_revokes_the_winner(
    web: FlaskClient, public_client: Client, patient_user: Person, core: Any, app: Any
) -> None:
    """Both requests passed validation; the transaction guard lets one through, and the
    loser revokes what the winner got (the code was used twice)."""
    req = auth_request(public_client, "openid launch/patient patient/*.rs offline_access")
    raw = get_code(web, req, patient=patient_user.patient_id)
    code = codes.find(core.db, raw, public_client.client_id)
    assert code is not None
    issuer = app.extensions["fireside_oauth"].issuer
    user = get_user(core.db, patient_user.user.id)
    winner = issuer.exchange_code(public_client, user, code)
    with pytest.raises(InvalidGrantError):
        issuer.exchange_code(public_client, user, code)  # the same, not-yet-used snapshot
    with pytest.raises(InvalidToken, match="revoked"):
        core.auth.tokens.verify(winner.body["access_token"])


def test_a_refresh_token_rotated_by_a_concurrent_request_revokes_the_family(
    tokens_for: Callable[..., Any], public_client: Client, core: Any, app: Any
) -> None:
    body = tokens_for("openid launch/patient patient/*.rs offline_access")
    token = families.find_refresh_token(core.db, body["refresh_token"])
    assert token is not None
    issuer = app.extensions["fireside_oauth"].issuer
    user = get_user(core.db, token.family.user_id)
    winner = issuer.refresh(public_client, user, token, None)
    with pytest.raises(InvalidGrantError):
        issuer.refresh(public_client, user, token, None)
    with pytest.raises(InvalidToken, match="revoked"):
        core.auth.tokens.verify(winner.body["access_token"])


def test_concurrent_backend_requests_with_one_assertion_issue_one_token(
    live_server: str, backend: Backend
) -> None:
    """Over real sockets and threads: the ``oauth_jti`` primary key lets exactly one in."""
    form = backend_form(
        assertion(backend.client.client_id, backend.key, aud="http://testserver/oauth2/token")
    )
    statuses: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        resp = requests.post(f"{live_server}/oauth2/token", data=form, timeout=30)
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [200, 401, 401, 401, 401, 401]


def test_sweep_forgets_expired_records_but_keeps_families(
    tokens_for: Callable[..., Any], db: sa.Engine, counts: Any
) -> None:
    tokens_for("openid launch/patient patient/*.rs offline_access")
    past = now_utc() - timedelta(days=2)
    with db.begin() as conn:
        conn.execute(sa.update(IssuedAccessTokenRow.__table__).values(expires_at=past))
        conn.execute(sa.update(RefreshTokenRow.__table__).values(expires_at=past))
    before = counts()
    families.sweep(db)
    after = counts()
    assert after["oauth_access_token"] == before["oauth_access_token"] - 1 == 0
    assert after["oauth_refresh_token"] == before["oauth_refresh_token"] - 1 == 0
    assert after["oauth_grant"] == before["oauth_grant"] == 1


def test_the_token_audit_names_the_refused_client_and_address(
    web: FlaskClient, backend: Backend, audit: Any
) -> None:
    signed = assertion(backend.client.client_id, backend.key, exp_in=-300)
    web.post("/oauth2/token", data=backend_form(signed), environ_base={"REMOTE_ADDR": "10.1.2.3"})
    [record] = audit.tokens()
    assert record.outcome == "4"
    assert record.kind == "token" and record.action == "E"
    assert record.subtype == "client_credentials"
    assert record.client_id == backend.client.client_id
    assert record.remote_addr == "10.1.2.3"
    assert record.description is not None and record.description.startswith("invalid_client")
    assert signed not in (record.description or "")
