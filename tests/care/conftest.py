"""Fixtures of the care workflow tests: people with real accounts, FHIR resources and
access tokens, and a JSON client for the plugin APIs under ``/api``.

``people.patient()``, ``people.guardian()`` (with a child), ``people.practitioner()``
(verified unless asked otherwise) and ``people.admin()`` each return a :class:`Person`
whose ``api`` and ``fhir`` clients carry that person's own token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from platform_core.fhir.context import RequestContext
from platform_core.identity.users import create_user, link_patient, verify_practitioner
from tests.conftest import FhirClient, issue_token

USER_SCOPE = "openid fhirUser offline_access user/*.cruds"
PROBLEM = "application/problem+json"


class ApiClient:
    """JSON over Flask's test client, under ``/api``, with an optional bearer token."""

    def __init__(self, client: FlaskClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", None) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        if body is not None and "data" not in kw:
            kw["data"] = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        return self.client.open("/api/" + path.lstrip("/"), method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)


@dataclass
class Person:
    """A signed-in person: their account, their own FHIR resource and their clients."""

    user_id: str
    role: str
    ref: str
    """Their own FHIR resource (``Patient/..``, ``Practitioner/..``), or "" for an admin."""
    token: str
    api: ApiClient
    fhir: FhirClient
    children: list[str] = field(default_factory=list)
    """A guardian's children's Patient ids."""

    @property
    def id(self) -> str:
        """The id part of :attr:`ref`."""
        return self.ref.split("/", 1)[1]


class People:
    """Makes people for a test, on the session app."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.core = app.extensions["fireside"]
        self._n = 0

    def _create(self, resource: dict[str, Any]) -> str:
        with self.core.repository.transaction() as conn:
            stored = self.core.repository.create(RequestContext.system(), conn, resource)
        return stored.id

    def _person(
        self, role: str, ref: str, *, verified: bool = False, scope: str = USER_SCOPE
    ) -> Person:
        self._n += 1
        user = create_user(
            self.core.db,
            email=f"{role}{self._n}-{id(self)}@example.org",
            password=None,
            role=role,
            fhir_user=ref or None,
        )
        if verified:
            verify_practitioner(self.core.db, user.id)
        token = issue_token(self.app, scope, user_id=user.id, fhir_user=ref or None)
        client = self.app.test_client()
        api, fhir = ApiClient(client, token), FhirClient(client, token)
        return Person(user.id, role, ref, token, api, fhir)

    def token_for(self, person: Person, scope: str) -> ApiClient:
        """An API client for ``person`` with a token of other scopes."""
        token = issue_token(self.app, scope, user_id=person.user_id)
        return ApiClient(self.app.test_client(), token)

    def patient(self, family: str = "Okafor", given: str = "Ada") -> Person:
        pid = self._create(
            {
                "resourceType": "Patient",
                "name": [{"family": family, "given": [given]}],
                "birthDate": "1990-04-02",
            }
        )
        person = self._person("patient", f"Patient/{pid}")
        link_patient(self.core.db, person.user_id, pid, "self")
        return person

    def guardian(self, child_given: str = "Tobi", family: str = "Okafor") -> Person:
        """A parent (role ``guardian``) with one child, linked through a RelatedPerson."""
        own = self._create(
            {"resourceType": "Patient", "name": [{"family": family, "given": ["Ngozi"]}]}
        )
        child = self._create(
            {
                "resourceType": "Patient",
                "name": [{"family": family, "given": [child_given]}],
                "birthDate": "2022-03-01",
            }
        )
        related = self._create(
            {
                "resourceType": "RelatedPerson",
                "patient": {"reference": f"Patient/{child}"},
                "relationship": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                "code": "PRN",
                            }
                        ]
                    }
                ],
            }
        )
        person = self._person("guardian", f"Patient/{own}")
        link_patient(self.core.db, person.user_id, own, "self")
        link_patient(self.core.db, person.user_id, child, "guardian", related)
        person.children.append(child)
        return person

    def practitioner(self, *, verified: bool = True, family: str = "Bello") -> Person:
        pid = self._create(
            {
                "resourceType": "Practitioner",
                "name": [{"family": family, "given": ["Amina"], "prefix": ["Dr"]}],
            }
        )
        return self._person("practitioner", f"Practitioner/{pid}", verified=verified)

    def admin(self) -> Person:
        return self._person("admin", "")

    def system(self, scope: str = "system/*.cruds") -> ApiClient:
        """An API client holding a backend-services token."""
        return ApiClient(self.app.test_client(), issue_token(self.app, scope))


@pytest.fixture
def people(app: Flask) -> People:
    return People(app)


@pytest.fixture
def anonymous_api(app: Flask) -> ApiClient:
    return ApiClient(app.test_client())


def problem(resp: Any, status: int) -> dict[str, Any]:
    """The problem+json body of ``resp``, asserting its status and media type."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:500])
    assert resp.mimetype == PROBLEM, resp.mimetype
    return resp.get_json()
