"""The family plugin: a signed-up patient or guardian creates their own Patient record and
their children's, and then reaches the children over FHIR with their own token."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import create_user, get_user, patients_of
from platform_core.web.api import Problem
from plugins.family import service
from tests.care.conftest import USER_SCOPE, ApiClient, People, problem
from tests.conftest import FhirClient, issue_token

PROFILE = {
    "name": {"given": ["Ngozi", "Ada"], "family": "Okafor"},
    "birthDate": "1988-07-14",
    "gender": "female",
    "phone": "+2348031234567",
    "language": "yo-NG",
}
CHILD = {
    "name": {"given": ["Tobi"], "family": "Okafor"},
    "birthDate": "2021-05-03",
    "gender": "male",
}


@dataclass
class Account:
    """A signed-up account without any FHIR resource yet, and its clients."""

    user_id: str
    api: ApiClient
    fhir: FhirClient


@pytest.fixture
def sign_up(app: Flask) -> Any:
    """``sign_up(role, scope=...)``: an account as the sign-up pages leave it."""

    def make(role: str = "guardian", scope: str = USER_SCOPE) -> Account:
        core = app.extensions["fireside"]
        user = create_user(
            core.db, email=f"{role}-{uuid.uuid4().hex[:12]}@example.org", password=None, role=role
        )
        token = issue_token(app, scope, user_id=user.id)
        client = app.test_client()
        return Account(user.id, ApiClient(client, token), FhirClient(client, token))

    return make


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {**base, **changes}
    return {k: v for k, v in body.items() if v is not None}


def _future(days: int) -> str:
    return (now_utc() + timedelta(days=days)).date().isoformat()


# --- the happy path ------------------------------------------------------------------------


def test_a_parent_creates_their_record_adds_a_child_and_reaches_it(
    app: Flask, sign_up: Any, people: People
) -> None:
    parent = sign_up("guardian")
    resp = parent.api.post("family/profile", PROFILE)
    assert resp.status_code == 201, resp.get_json()
    own = resp.get_json()["patient"]

    user = get_user(app.extensions["fireside"].db, parent.user_id)
    assert user is not None and user.fhir_user == f"Patient/{own}" and user.role == "guardian"
    profile = parent.api.get("family/profile").get_json()
    assert profile["id"] == own
    assert profile["name"] == [{"family": "Okafor", "given": ["Ngozi", "Ada"]}]
    assert profile["birthDate"] == "1988-07-14"
    assert profile["gender"] == "female"
    assert profile["telecom"] == [{"system": "phone", "value": "+2348031234567", "use": "mobile"}]
    assert profile["communication"][0]["language"]["coding"] == [
        {"system": "urn:ietf:bcp:47", "code": "yo-NG"}
    ]

    resp = parent.api.post("family/children", CHILD)
    assert resp.status_code == 201, resp.get_json()
    child, related = resp.get_json()["patient"], resp.get_json()["related_person"]

    # The very next request sees the child: the grant cache was told.
    read = parent.fhir.get(f"Patient/{child}")
    assert read.status_code == 200, read.get_json()
    assert read.get_json()["birthDate"] == "2021-05-03"
    assert read.get_json()["gender"] == "male"
    person = parent.fhir.get(f"RelatedPerson/{related}").get_json()
    assert person["patient"] == {"reference": f"Patient/{child}"}
    assert person["relationship"][0]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
            "code": "PRN",
            "display": "parent",
        }
    ]
    assert person["name"] == profile["name"]
    assert person["telecom"] == profile["telecom"]
    assert sorted(patients_of(app.extensions["fireside"].db, parent.user_id)) == sorted(
        [(own, "self"), (child, "guardian")]
    )

    assert parent.api.get("family/children").get_json() == [
        {
            "patient": child,
            "name": "Tobi Okafor",
            "birthDate": "2021-05-03",
            "related_person": related,
        }
    ]
    other = people.guardian()
    assert other.fhir.get(f"Patient/{child}").status_code == 404
    assert other.fhir.get(f"RelatedPerson/{related}").status_code == 404
    stranger = sign_up("guardian")
    assert stranger.fhir.get(f"Patient/{child}").status_code == 404
    assert stranger.api.get("family/children").get_json() == []


def test_a_patient_may_also_be_a_parent_and_keeps_their_role(app: Flask, sign_up: Any) -> None:
    mother = sign_up("patient")
    body = {k: v for k, v in PROFILE.items() if k not in ("phone", "language")}
    own = mother.api.post("family/profile", body).get_json()["patient"]
    profile = mother.api.get("family/profile").get_json()
    assert "telecom" not in profile and "communication" not in profile

    resp = mother.api.post("family/children", CHILD)
    assert resp.status_code == 201
    child = resp.get_json()["patient"]
    related = mother.fhir.get(f"RelatedPerson/{resp.get_json()['related_person']}").get_json()
    assert "telecom" not in related  # the mother's record has no phone to copy
    user = get_user(app.extensions["fireside"].db, mother.user_id)
    assert user is not None and user.role == "patient" and user.fhir_user == f"Patient/{own}"
    assert mother.fhir.get(f"Patient/{own}").status_code == 200
    assert mother.fhir.get(f"Patient/{child}").status_code == 200


def test_children_lists_the_guardian_links_only_in_the_order_added(
    sign_up: Any, people: People
) -> None:
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    first = parent.api.post("family/children", CHILD).get_json()
    second = parent.api.post(
        "family/children",
        {"name": {"family": "Okafor"}, "birthDate": "2023-01-30", "gender": "unknown"},
    ).get_json()
    listed = parent.api.get("family/children").get_json()
    assert [c["patient"] for c in listed] == [first["patient"], second["patient"]]
    assert listed[1] == {
        "patient": second["patient"],
        "name": "Okafor",
        "birthDate": "2023-01-30",
        "related_person": second["related_person"],
    }
    # A guardian from the fixtures: their own record is a "self" link, not a child.
    guardian = people.guardian(child_given="Kemi")
    assert [c["patient"] for c in guardian.api.get("family/children").get_json()] == (
        guardian.children
    )


def test_a_birth_date_of_today_anywhere_is_accepted(sign_up: Any) -> None:
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    today = now_utc().date().isoformat()
    assert parent.api.post("family/children", _with(CHILD, birthDate=today)).status_code == 201


# --- bad bodies: 400 naming the field, nothing written -------------------------------------

BAD_PROFILES = [
    ("name", _with(PROFILE, name=None)),
    ("name", _with(PROFILE, name="Ngozi Okafor")),
    ("name.family", _with(PROFILE, name={"given": ["Ngozi"]})),
    ("name.family", _with(PROFILE, name={"given": ["Ngozi"], "family": "  "})),
    ("name.family", _with(PROFILE, name={"family": "x" * 201})),
    ("name.given", _with(PROFILE, name={"given": {"a": 1}, "family": "Okafor"})),
    ("name.given[1]", _with(PROFILE, name={"given": ["Ngozi", ""], "family": "Okafor"})),
    ("name.prefix", _with(PROFILE, name={"family": "Okafor", "prefix": ["Mrs"]})),
    ("birthDate", _with(PROFILE, birthDate=None)),
    ("birthDate", _with(PROFILE, birthDate="14/07/1988")),
    ("birthDate", _with(PROFILE, birthDate="1988-07")),
    ("birthDate", _with(PROFILE, birthDate="1988-02-30")),
    ("birthDate", _with(PROFILE, birthDate=19880714)),
    ("birthDate", _with(PROFILE, birthDate=_future(2))),
    ("gender", _with(PROFILE, gender=None)),
    ("gender", _with(PROFILE, gender="F")),
    ("phone", _with(PROFILE, phone="08031234567")),
    ("phone", _with(PROFILE, phone="+0123456789")),
    ("phone", _with(PROFILE, phone="+234 803 123 4567")),
    ("phone", _with(PROFILE, phone="+1234567890123456")),
    ("phone", _with(PROFILE, phone=2348031234567)),
    ("language", _with(PROFILE, language="english!")),
    ("language", _with(PROFILE, language="")),
    ("birthdate", {**PROFILE, "birthdate": "1988-07-14"}),
]


@pytest.mark.parametrize(("field", "body"), BAD_PROFILES, ids=[f for f, _ in BAD_PROFILES])
def test_a_bad_profile_is_refused_naming_the_field(
    app: Flask, sign_up: Any, counts: Any, field: str, body: dict[str, Any]
) -> None:
    parent = sign_up("guardian")
    before = counts()
    detail = problem(parent.api.post("family/profile", body), 400)
    assert detail["detail"].startswith(f"{field}: "), detail
    assert list(detail["errors"]["json"]) == [field]
    assert counts() == before
    user = get_user(app.extensions["fireside"].db, parent.user_id)
    assert user is not None and user.fhir_user is None


BAD_CHILDREN = [
    ("name.family", _with(CHILD, name={"given": ["Tobi"]})),
    ("birthDate", _with(CHILD, birthDate=_future(2))),
    ("birthDate", _with(CHILD, birthDate="2021-13-01")),
    ("gender", _with(CHILD, gender="boy")),
    ("phone", _with(CHILD, phone="+2348031234567")),  # a child's record carries no phone
]


@pytest.mark.parametrize(("field", "body"), BAD_CHILDREN, ids=[f for f, _ in BAD_CHILDREN])
def test_a_bad_child_is_refused_naming_the_field(
    sign_up: Any, counts: Any, field: str, body: dict[str, Any]
) -> None:
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    before = counts()
    detail = problem(parent.api.post("family/children", body), 400)
    assert detail["detail"].startswith(f"{field}: "), detail
    assert counts() == before
    assert parent.api.get("family/children").get_json() == []


@pytest.mark.parametrize("path", ["family/profile", "family/children"])
@pytest.mark.parametrize(
    ("data", "content_type"),
    [("not json", "application/json"), ('{"name": ', "application/json"), ("[]", "text/plain")],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    sign_up: Any, counts: Any, path: str, data: str, content_type: str
) -> None:
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    before = counts()
    problem(parent.api.post(path, data=data, headers={"Content-Type": content_type}), 400)
    problem(parent.api.post(path, ["a", "list"]), 400)
    assert counts() == before


# --- state rules ------------------------------------------------------------------------------


def test_a_second_profile_is_a_conflict(sign_up: Any, people: People, counts: Any) -> None:
    parent = sign_up("guardian")
    assert parent.api.post("family/profile", PROFILE).status_code == 201
    patient = people.patient()  # an account linked to its record by other means
    before = counts()
    assert (
        "already has its own record"
        in problem(parent.api.post("family/profile", PROFILE), 409)["detail"]
    )
    problem(patient.api.post("family/profile", PROFILE), 409)
    assert counts() == before


def test_no_profile_yet(sign_up: Any, counts: Any) -> None:
    parent = sign_up("guardian")
    assert "POST /api/family/profile" in problem(parent.api.get("family/profile"), 404)["detail"]
    before = counts()
    assert "own record first" in problem(parent.api.post("family/children", CHILD), 409)["detail"]
    assert counts() == before
    assert parent.api.get("family/children").get_json() == []


def test_a_deleted_own_record_reads_as_none(sign_up: Any, fhir: FhirClient) -> None:
    parent = sign_up("guardian")
    own = parent.api.post("family/profile", PROFILE).get_json()["patient"]
    child = parent.api.post("family/children", CHILD).get_json()["patient"]
    assert fhir.delete(f"Patient/{child}").status_code in (200, 204)
    assert parent.api.get("family/children").get_json() == []
    assert fhir.delete(f"Patient/{own}").status_code in (200, 204)
    problem(parent.api.get("family/profile"), 404)
    problem(parent.api.post("family/children", CHILD), 409)


def test_children_stop_at_the_configured_maximum(
    app: Flask, sign_up: Any, counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.extensions["fireside"].settings.extra, "family_max_children", 2)
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    for _ in range(2):
        assert parent.api.post("family/children", CHILD).status_code == 201
    before = counts()
    assert "at most 2 children" in problem(parent.api.post("family/children", CHILD), 422)["detail"]
    assert counts() == before
    assert len(parent.api.get("family/children").get_json()) == 2


def test_the_default_maximum_is_twelve(app: Flask) -> None:
    assert service.max_children(app.extensions["fireside"]) == 12


# --- all or nothing -----------------------------------------------------------------------------


def test_a_failed_profile_write_leaves_nothing_behind(
    app: Flask, sign_up: Any, counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_link(*args: Any, **kwargs: Any) -> None:
        raise Problem(503, "the link could not be written")

    parent = sign_up("guardian")
    before = counts()
    monkeypatch.setattr(service, "_link", broken_link)
    problem(parent.api.post("family/profile", PROFILE), 503)
    assert counts() == before
    user = get_user(app.extensions["fireside"].db, parent.user_id)
    assert user is not None and user.fhir_user is None


def test_a_failed_child_write_leaves_nothing_behind(
    sign_up: Any, counts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = sign_up("guardian")
    parent.api.post("family/profile", PROFILE)
    before = counts()
    # The RelatedPerson is refused by the repository after the child's Patient was written.
    monkeypatch.setattr(
        service, "related_person_resource", lambda child, guardian: {"resourceType": "Nope"}
    )
    assert parent.api.post("family/children", CHILD).status_code >= 400
    assert counts() == before
    assert parent.api.get("family/children").get_json() == []


# --- who may call ------------------------------------------------------------------------------

ROUTES = [
    ("POST", "family/profile", PROFILE),
    ("GET", "family/profile", None),
    ("POST", "family/children", CHILD),
    ("GET", "family/children", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_without_a_token_401(
    anonymous_api: ApiClient, counts: Any, method: str, path: str, body: Any
) -> None:
    before = counts()
    problem(anonymous_api.request(method, path, body), 401)
    bad = ApiClient(anonymous_api.client, "not-a-token")
    problem(bad.request(method, path, body), 401)
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("role", ["practitioner", "pharmacist", "admin", "super_admin"])
def test_staff_have_no_family_record(
    sign_up: Any, counts: Any, role: str, method: str, path: str, body: Any
) -> None:
    staff = sign_up(role)
    before = counts()
    problem(staff.api.request(method, path, body), 403)
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_a_backend_service_has_no_family_record(
    people: People, counts: Any, method: str, path: str, body: Any
) -> None:
    before = counts()
    problem(people.system().request(method, path, body), 403)
    assert counts() == before


def test_the_token_must_allow_the_fhir_writes(sign_up: Any, counts: Any) -> None:
    reader = sign_up("guardian", scope="openid fhirUser user/Patient.rs")
    before = counts()
    assert "create" in problem(reader.api.post("family/profile", PROFILE), 403)["detail"]
    assert counts() == before
    no_related = sign_up("guardian", scope="openid fhirUser user/Patient.crs")
    assert no_related.api.post("family/profile", PROFILE).status_code == 201
    before = counts()
    problem(no_related.api.post("family/children", CHILD), 403)
    assert counts() == before
    assert no_related.api.get("family/children").get_json() == []
