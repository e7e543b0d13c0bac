"""Refresh tokens: rotation, reuse detection, scope narrowing, offline versus online access,
and the user's token generation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from platform_core.auth.keys import InvalidToken
from platform_core.identity.users import set_password, set_status
from platform_core.oauth.schema import RefreshTokenRow
from tests.oauth.conftest import Person

OFFLINE = "openid fhirUser launch/patient patient/*.rs offline_access"
ONLINE = "openid launch/patient patient/*.rs online_access"


def refresh(web: FlaskClient, form: dict[str, str]) -> Any:
    return web.post("/oauth2/token", data=form)


class TestRotation:
    def test_each_refresh_gives_a_new_refresh_token_and_keeps_the_context(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
        patient_user: Person,
        core: Any,
        audit: Any,
    ) -> None:
        first = tokens_for(OFFLINE)
        resp = refresh(web, refresh_form(first["refresh_token"]))
        assert resp.status_code == 200, resp.get_json()
        assert resp.headers["Cache-Control"] == "no-store"
        second = resp.get_json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert second["patient"] == patient_user.patient_id
        assert second["scope"] == OFFLINE
        assert "id_token" in second
        token = core.auth.tokens.verify(second["access_token"])
        assert token.patient == patient_user.patient_id
        third = refresh(web, refresh_form(second["refresh_token"]))
        assert third.status_code == 200
        assert [r.subtype for r in audit.tokens()] == [
            "authorization_code",
            "refresh_token",
            "refresh_token",
        ]

    def test_reusing_a_rotated_token_revokes_the_whole_family(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
        core: Any,
        audit: Any,
    ) -> None:
        first = tokens_for(OFFLINE)
        second = refresh(web, refresh_form(first["refresh_token"])).get_json()
        stolen = refresh(web, refresh_form(first["refresh_token"]))
        assert stolen.status_code == 400
        assert stolen.get_json()["error"] == "invalid_grant"
        # Every token of the family is dead now, the legitimate app's included.
        assert refresh(web, refresh_form(second["refresh_token"])).get_json()["error"] == (
            "invalid_grant"
        )
        for access in (first["access_token"], second["access_token"]):
            with pytest.raises(InvalidToken, match="revoked"):
                core.auth.tokens.verify(access)
        assert audit.tokens()[-1].outcome == "4"

    def test_refresh_tokens_are_stored_hashed(
        self, tokens_for: Callable[..., Any], db: sa.Engine
    ) -> None:
        first = tokens_for(OFFLINE)
        with db.connect() as conn:
            stored = conn.execute(sa.select(RefreshTokenRow.token_hash)).scalars().all()
        assert first["refresh_token"] not in stored

    def test_an_unknown_refresh_token_is_invalid_grant(
        self,
        web: FlaskClient,
        refresh_form: Callable[..., dict[str, str]],
        public_client: Any,
        counts: Any,
    ) -> None:
        before = counts()
        resp = refresh(web, refresh_form("not-a-token"))
        assert resp.get_json()["error"] == "invalid_grant"
        assert counts() == before

    def test_another_client_cannot_use_the_refresh_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        symmetric_client: Any,
        counts: Any,
    ) -> None:
        first = tokens_for(OFFLINE)
        before = counts()
        resp = web.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "client_id": symmetric_client.client.client_id,
                "client_secret": symmetric_client.secret,
            },
        )
        assert resp.get_json()["error"] == "invalid_grant"
        assert counts() == before


class TestScope:
    def test_a_refresh_may_narrow_the_access_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
        core: Any,
    ) -> None:
        first = tokens_for(OFFLINE)
        resp = refresh(web, refresh_form(first["refresh_token"], scope="patient/Observation.rs"))
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        assert body["scope"] == "patient/Observation.rs"
        assert "id_token" not in body
        # The family keeps its full scope for the next refresh.
        again = refresh(web, refresh_form(body["refresh_token"])).get_json()
        assert again["scope"] == OFFLINE

    @pytest.mark.parametrize(
        "scope", ["patient/*.cruds", "user/*.rs", "patient/*.rs launch", "system/*.rs"]
    )
    def test_asking_for_more_is_invalid_scope_and_changes_nothing(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
        counts: Any,
        scope: str,
    ) -> None:
        first = tokens_for(OFFLINE)
        before = counts()
        resp = refresh(web, refresh_form(first["refresh_token"], scope=scope))
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_scope"
        assert counts() == before
        # The refresh token was not spent by the refused request.
        assert refresh(web, refresh_form(first["refresh_token"])).status_code == 200


class TestOfflineAndOnline:
    def test_offline_access_outlives_the_browser_session(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
    ) -> None:
        first = tokens_for(OFFLINE)
        logout(web)
        assert refresh(web, refresh_form(first["refresh_token"])).status_code == 200

    def test_online_access_ends_with_the_browser_session(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
    ) -> None:
        first = tokens_for(ONLINE)
        assert first["refresh_token"]
        second = refresh(web, refresh_form(first["refresh_token"])).get_json()
        logout(web)
        resp = refresh(web, refresh_form(second["refresh_token"]))
        assert resp.status_code == 400
        assert resp.get_json()["error"] == "invalid_grant"

    def test_offline_wins_when_both_are_asked(
        self, tokens_for: Callable[..., Any], web: FlaskClient, refresh_form: Any
    ) -> None:
        first = tokens_for("launch/patient patient/*.rs online_access offline_access")
        assert first["scope"].split() == ["launch/patient", "patient/*.rs", "offline_access"]
        logout(web)
        assert refresh(web, refresh_form(first["refresh_token"])).status_code == 200

    @pytest.mark.parametrize("change", ["password", "suspend"])
    def test_a_password_change_or_suspension_ends_every_refresh_token(
        self,
        web: FlaskClient,
        tokens_for: Callable[..., Any],
        refresh_form: Callable[..., dict[str, str]],
        patient_user: Person,
        db: sa.Engine,
        change: str,
    ) -> None:
        first = tokens_for(OFFLINE)
        if change == "password":
            set_password(db, patient_user.user.id, "another good passphrase")
        else:
            set_status(db, patient_user.user.id, "suspended")
        resp = refresh(web, refresh_form(first["refresh_token"]))
        assert resp.get_json()["error"] == "invalid_grant"


def logout(web: FlaskClient) -> None:
    """Sign out through the real logout form."""
    with web.session_transaction() as session:
        token = session["csrf"]
    resp = web.post("/auth/logout", data={"csrf_token": token})
    assert resp.status_code in {302, 303}
