"""Nobody finds what they may not read: not through ``/api/search``, not through FHIR
``_text``/``_content``, not through totals or facets."""

from __future__ import annotations

from typing import Any

import pytest

from search.backend import Visibility
from search.visibility import visibility_for
from tests.auth.conftest import make_user
from tests.conftest import issue_token, outcome_codes


@pytest.fixture
def people(fhir, search_service) -> dict[str, str]:
    """Two patients named Smith (indexed through the outbox as they are written), a public
    practitioner Smith and a medication."""
    ids = {}
    for who, given in (("a", "Alice"), ("b", "Bob")):
        ids[who] = fhir.create(
            {
                "resourceType": "Patient",
                "name": [{"given": [given], "family": "Smith"}],
                "text": {
                    "status": "generated",
                    "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{given} has asthma</div>',
                },
            }
        )["id"]
    ids["doc"] = fhir.create(
        {"resourceType": "Practitioner", "name": [{"prefix": ["Dr"], "family": "Smith"}]}
    )["id"]
    ids["med"] = fhir.create(
        {"resourceType": "Medication", "code": {"text": "Salbutamol inhaler for asthma"}}
    )["id"]
    search_service.backend.refresh()
    return ids


def api(app, token: str | None, **params: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = app.test_client().get("/api/search", query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def found(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(h["kind"], h["id"]) for h in body["hits"]}


def fhir_ids(client, path: str) -> set[str]:
    resp = client.get(path)
    assert resp.status_code == 200, resp.get_json()
    return {
        e["resource"]["id"]
        for e in resp.get_json().get("entry", [])
        if e["search"]["mode"] == "match"
    }


def test_anonymous_callers_find_public_documents_only(app, people):
    body = api(app, None, q="smith")
    assert found(body) == {("practitioner", people["doc"])}
    assert body["total"] == 1 and body["facets"]["kind"] == {"practitioner": 1}
    assert api(app, None, q="asthma")["facets"]["kind"] == {"medication": 1}
    assert api(app, None, q="alice")["total"] == 0


def test_a_patient_finds_themselves_and_never_another_patient(app, fhir_as, people):
    token = issue_token(app, "patient/*.rs", patient=people["a"])
    body = api(app, token, q="smith")
    assert found(body) == {("patient", people["a"]), ("practitioner", people["doc"])}
    assert body["total"] == 2 and body["facets"]["kind"] == {"patient": 1, "practitioner": 1}
    for q in ("bob", "bob smith", "asthma", "bob asthma"):
        assert ("patient", people["b"]) not in found(api(app, token, q=q)), q
    assert api(app, token, q="bob", types="patient")["total"] == 0
    assert api(app, token, q="asthma", types="patient")["facets"]["kind"] == {
        "patient": 1,
        "medication": 1,
    }


def test_fhir_text_and_content_follow_the_same_rules(app, fhir_as, people):
    mine = fhir_as("patient/*.rs", patient=people["a"])
    for parameter in ("_text", "_content"):
        assert fhir_ids(mine, f"Patient?{parameter}=smith") == {people["a"]}
        assert fhir_ids(mine, f"Patient?{parameter}=bob") == set()
        total = mine.get(f"Patient?{parameter}=smith&_summary=count").get_json()["total"]
        assert total == 1
    everyone = fhir_as("system/*.rs")
    assert fhir_ids(everyone, "Patient?_text=smith") == {people["a"], people["b"]}
    assert fhir_ids(everyone, "Practitioner?_content=smith") == {people["doc"]}
    assert fhir_ids(everyone, "Medication?_text=salbutamol") == {people["med"]}


def test_text_search_on_a_type_that_is_not_indexed_is_a_clear_400(fhir, people):
    resp = fhir.get("Observation?_text=smith")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]
    assert "Patient" in resp.get_json()["issue"][0]["diagnostics"]


def test_a_guardian_finds_their_child_only(app, db, people):
    guardian = make_user(db, "guardian", patients=[(people["a"], "guardian")])
    token = issue_token(app, "user/*.rs", user_id=guardian, generation=0)
    assert found(api(app, token, q="smith", types="patient")) == {("patient", people["a"])}


def test_admins_and_system_clients_find_every_patient(app, db, people):
    admin = make_user(db, "admin")
    both = {("patient", people["a"]), ("patient", people["b"])}
    for token in (
        issue_token(app, "user/*.rs", user_id=admin, generation=0),
        issue_token(app, "system/*.rs"),
    ):
        assert found(api(app, token, q="smith", types="patient")) == both


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.rs",  # may not search Patient at all
        "patient/Patient.c",  # may create, not search
        "patient/Patient.rs?gender=female",  # granular: cannot be checked on a document
    ],
)
def test_scopes_that_do_not_grant_patient_search_show_no_patient(app, people, scope):
    token = issue_token(app, scope, patient=people["a"])
    body = api(app, token, q="smith")
    assert found(body) == {("practitioner", people["doc"])}
    assert "patient" not in body["facets"]["kind"]


def test_system_scopes_on_a_user_token_open_nothing_private(app, db, people):
    user = make_user(db, "patient", fhir_user=f"Patient/{people['a']}")
    token = issue_token(app, "system/*.rs", user_id=user, generation=0)
    assert api(app, token, q="smith", types="patient")["total"] == 0


def test_a_narrowed_type_shows_no_private_documents():
    class Hooks:
        class fhir_search_narrowing:
            @staticmethod
            def get_hookimpls() -> list[str]:
                return ["clinic-plugin"]

            def __new__(cls, ctx, resource_type):  # type: ignore[misc]
                return ["organization=Organization/7"] if resource_type == "Patient" else [None]

    from platform_core.auth.grants import Grant
    from platform_core.auth.scopes import ScopeSet
    from platform_core.fhir.context import RequestContext

    grant = Grant(ScopeSet.parse("system/*.rs"), "client")
    ctx = RequestContext(actor="client", grant=grant)
    kinds = {"patient": "Patient", "journal": None, "note": "DocumentReference"}
    assert visibility_for(ctx, kinds, Hooks) == Visibility(private={"note": None})
    assert visibility_for(ctx, kinds, None) == Visibility(
        private={"patient": None, "journal": None, "note": None}
    )
