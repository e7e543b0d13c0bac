"""Launch context: the standalone patient picker (patients, guardians, practitioners) and
the EHR launch (``POST /oauth2/launch``, then ``launch=`` at the authorization endpoint)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import User, link_patient
from platform_core.oauth.clients import Client
from platform_core.oauth.schema import LaunchRow
from tests.oauth.conftest import (
    Backend,
    Person,
    assertion,
    auth_request,
    backend_form,
    csrf_of,
    decide,
    exchange,
    get_code,
    redirect_params,
    sign_in,
)

PICK = "openid fhirUser launch/patient patient/*.rs"


def picker_ids(page: Any) -> list[str]:
    return re.findall(r'name="_patient" id="[^"]+" value="([^"]+)"', page.get_data(as_text=True))


@pytest.fixture
def guardian(
    app: Flask,
    web: FlaskClient,
    make_user: Callable[..., User],
    make_patient: Callable[..., str],
    db: sa.Engine,
) -> tuple[User, list[str]]:
    """A parent with two children, signed in on ``web``."""
    children = [make_patient("Tom", "Thumb", "2019-01-01"), make_patient("Tina", "Thumb")]
    user = make_user("guardian", "RelatedPerson/rp-1")
    for child in children:
        link_patient(db, user.id, child, "guardian", "rp-1")
    sign_in(app, web, user)
    return user, children


class TestStandalonePicker:
    def test_a_patient_picks_themselves(
        self, web: FlaskClient, public_client: Client, patient_user: Person, core: Any
    ) -> None:
        req = auth_request(public_client, PICK)
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert picker_ids(page) == [patient_user.patient_id]
        assert "Grace Hopper (born 1980-12-09) (you)" in page.get_data(as_text=True)
        code = get_code(web, req, patient=patient_user.patient_id)
        body = exchange(web, public_client, code, req).get_json()
        assert body["patient"] == patient_user.patient_id
        assert body["need_patient_banner"] is True

    def test_a_parent_picks_one_of_their_children(
        self, web: FlaskClient, public_client: Client, guardian: tuple[User, list[str]], core: Any
    ) -> None:
        _user, children = guardian
        req = auth_request(public_client, PICK)
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert sorted(picker_ids(page)) == sorted(children)
        text = page.get_data(as_text=True)
        assert "Tom Thumb (born 2019-01-01)" in text and "Tina Thumb" in text
        code = get_code(web, req, patient=children[1])
        body = exchange(web, public_client, code, req).get_json()
        assert body["patient"] == children[1]
        token = core.auth.tokens.verify(body["access_token"])
        assert token.patient == children[1] and token.fhir_user == "RelatedPerson/rp-1"

    def test_a_patient_the_user_may_not_act_for_is_refused(
        self,
        web: FlaskClient,
        public_client: Client,
        guardian: tuple[User, list[str]],
        make_patient: Callable[..., str],
        counts: Any,
    ) -> None:
        stranger = make_patient("Eve", "Stranger")
        req = auth_request(public_client, PICK)
        before = counts()
        for choice in (stranger, None, "no-such-patient"):
            resp = decide(web, req, patient=choice)
            assert resp.status_code == 400
            assert "Location" not in resp.headers
            assert "Choose one of the patients listed." in resp.get_data(as_text=True)
        assert counts() == before

    def test_a_practitioner_searches_patients_by_name(
        self,
        app: Flask,
        web: FlaskClient,
        public_client: Client,
        make_user: Callable[..., User],
        make_patient: Callable[..., str],
    ) -> None:
        wanted = make_patient("Florence", "Nightingale")
        make_patient("Mary", "Seacole")
        sign_in(app, web, make_user("practitioner", "Practitioner/pr-1"))
        req = auth_request(public_client, PICK)
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert 'id="patient-search"' in page.get_data(as_text=True)
        assert picker_ids(page) == []
        found = web.get("/oauth2/authorize", query_string={**req.params, "_q": "nightingale"})
        assert picker_ids(found) == [wanted]
        form = {
            **req.params,
            "csrf_token": csrf_of(found),
            "_decision": "approve",
            "_patient": wanted,
        }
        code = redirect_params(web.post("/oauth2/authorize", data=form))["code"]
        assert exchange(web, public_client, code, req).get_json()["patient"] == wanted

    def test_a_patient_gets_no_search_box(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, PICK)
        page = web.get("/oauth2/authorize", query_string={**req.params, "_q": "a"})
        assert 'id="patient-search"' not in page.get_data(as_text=True)
        assert picker_ids(page) == [patient_user.patient_id]

    def test_without_launch_patient_there_is_no_picker_and_no_patient(
        self, web: FlaskClient, public_client: Client, patient_user: Person
    ) -> None:
        req = auth_request(public_client, "openid user/*.rs")
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert picker_ids(page) == []
        body = exchange(web, public_client, get_code(web, req), req).get_json()
        assert "patient" not in body


@pytest.fixture
def system_token(web: FlaskClient, backend: Backend) -> str:
    resp = web.post(
        "/oauth2/token", data=backend_form(assertion(backend.client.client_id, backend.key))
    )
    return str(resp.get_json()["access_token"])


def register(web: FlaskClient, token: str | None, body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return web.post("/oauth2/launch", json=body, headers=headers)


class TestEhrLaunch:
    def test_the_launch_carries_patient_encounter_and_fhir_context_into_the_token(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        system_token: str,
        make_encounter: Callable[[str], str],
        core: Any,
    ) -> None:
        encounter = make_encounter(patient_user.patient_id)
        fhir_context = [{"reference": "Appointment/a1", "role": "launch"}]
        resp = register(
            web,
            system_token,
            {
                "patient": patient_user.patient_id,
                "encounter": encounter,
                "fhirContext": fhir_context,
            },
        )
        assert resp.status_code == 201, resp.get_json()
        launch = resp.get_json()["launch"]
        assert resp.get_json()["expires_in"] == 600
        req = auth_request(public_client, "launch openid fhirUser patient/*.rs", launch=launch)
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert picker_ids(page) == []
        assert f"opened for patient {patient_user.patient_id}" in page.get_data(as_text=True)
        body = exchange(web, public_client, get_code(web, req), req).get_json()
        assert body["patient"] == patient_user.patient_id
        assert body["encounter"] == encounter
        assert body["fhirContext"] == fhir_context
        assert body["need_patient_banner"] is False
        token = core.auth.tokens.verify(body["access_token"])
        assert (token.patient, token.encounter) == (patient_user.patient_id, encounter)
        assert list(token.fhir_context) == fhir_context

    def test_an_unknown_launch_goes_back_as_an_error(
        self, web: FlaskClient, public_client: Client, patient_user: Person, counts: Any
    ) -> None:
        req = auth_request(public_client, "launch patient/*.rs", launch="made-up")
        before = counts()
        params = redirect_params(web.get("/oauth2/authorize", query_string=req.params))
        assert params["error"] == "invalid_request" and params["state"] == req.state
        assert counts() == before

    def test_an_expired_launch_goes_back_as_an_error(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        system_token: str,
        db: sa.Engine,
    ) -> None:
        launch = register(web, system_token, {"patient": patient_user.patient_id}).get_json()
        with db.begin() as conn:
            conn.execute(sa.update(LaunchRow.__table__).values(expires_at=now_utc() - timedelta(1)))
        req = auth_request(public_client, "launch patient/*.rs", launch=launch["launch"])
        params = redirect_params(web.get("/oauth2/authorize", query_string=req.params))
        assert params["error"] == "invalid_request"

    def test_a_launch_registered_for_a_user_is_theirs_alone(
        self,
        app: Flask,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        make_user: Callable[..., User],
    ) -> None:
        admin = make_user("admin")
        other = app.test_client()
        sign_in(app, other, admin)
        launch = register(other, None, {"patient": patient_user.patient_id}).get_json()["launch"]
        req = auth_request(public_client, "launch patient/*.rs", launch=launch)
        params = redirect_params(web.get("/oauth2/authorize", query_string=req.params))
        assert params["error"] == "invalid_request"
        assert other.get("/oauth2/authorize", query_string=req.params).status_code == 200

    def test_an_ehr_launch_without_a_patient_shows_the_picker(
        self,
        web: FlaskClient,
        public_client: Client,
        patient_user: Person,
        system_token: str,
    ) -> None:
        launch = register(web, system_token, {"fhirContext": [{"reference": "Location/l1"}]})
        req = auth_request(
            public_client, "launch launch/patient patient/*.rs", launch=launch.get_json()["launch"]
        )
        page = web.get("/oauth2/authorize", query_string=req.params)
        assert picker_ids(page) == [patient_user.patient_id]
        code = get_code(web, req, patient=patient_user.patient_id)
        body = exchange(web, public_client, code, req).get_json()
        assert body["patient"] == patient_user.patient_id
        assert body["fhirContext"] == [{"reference": "Location/l1"}]
        assert body["need_patient_banner"] is False


class TestLaunchEndpoint:
    def test_without_a_token_or_admin_session_it_is_401(
        self, web: FlaskClient, patient_user: Person, counts: Any
    ) -> None:
        before = counts()
        resp = register(web, None, {"patient": patient_user.patient_id})
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert counts() == before

    def test_a_patient_scoped_token_is_not_enough(
        self, web: FlaskClient, tokens_for: Callable[..., Any], patient_user: Person
    ) -> None:
        token = tokens_for("launch/patient patient/*.rs")["access_token"]
        resp = register(web, token, {"patient": patient_user.patient_id})
        assert resp.status_code == 403
        assert resp.get_json()["error"] == "insufficient_scope"

    def test_a_user_scoped_token_registers_a_launch_bound_to_its_user(
        self, web: FlaskClient, tokens_for: Callable[..., Any], patient_user: Person
    ) -> None:
        token = tokens_for("openid user/*.rs")["access_token"]
        resp = register(web, token, {"patient": patient_user.patient_id})
        assert resp.status_code == 201

    def test_a_forged_token_is_401(self, web: FlaskClient, patient_user: Person) -> None:
        resp = register(web, "eyJhbGciOiJub25lIn0.e30.", {"patient": patient_user.patient_id})
        assert resp.status_code == 401
        assert resp.get_json()["error"] == "invalid_token"

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"patient": "no-such-patient"},
            {"patient": "bad id!"},
            {"encounter": "no-such-encounter"},
            {"fhirContext": [{"reference": "http://elsewhere/Patient/1"}]},
            {"fhirContext": "Patient/1"},
            {"patient": "1", "extra": True},
            [],
        ],
    )
    def test_malformed_contexts_are_invalid_request(
        self, web: FlaskClient, system_token: str, counts: Any, body: Any
    ) -> None:
        before = counts()
        resp = register(web, system_token, body)
        assert resp.status_code == 400, resp.get_json()
        assert resp.get_json()["error"] == "invalid_request"
        assert counts() == before

    def test_the_body_must_be_json(self, web: FlaskClient, system_token: str) -> None:
        resp = web.post(
            "/oauth2/launch",
            data={"patient": "1"},
            headers={"Authorization": f"Bearer {system_token}"},
        )
        assert resp.status_code == 415

    def test_a_non_admin_session_cannot_register(
        self, web: FlaskClient, patient_user: Person
    ) -> None:
        assert register(web, None, {"patient": patient_user.patient_id}).status_code == 401
