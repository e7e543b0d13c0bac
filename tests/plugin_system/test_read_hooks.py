"""``fhir_search_narrowing`` and ``fhir_text_search``: extra access filters and full text."""

from __future__ import annotations

from typing import Any

from platform_core import hookimpl
from platform_core.fhir.context import RequestContext
from platform_core.plugin_api import TextSearch
from tests.conftest import outcome_codes


class TenantFilter:
    """Confines non-internal callers to Patients of the organization 'Organization/t1'."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    @hookimpl
    def fhir_search_narrowing(self, ctx: RequestContext, resource_type: str) -> str | None:
        self.asked.append(resource_type)
        if resource_type == "Patient":
            return "organization=Organization/t1"
        return None


class BrokenFilter:
    @hookimpl
    def fhir_search_narrowing(self, ctx: RequestContext, resource_type: str) -> str | None:
        raise RuntimeError("tenant service unreachable")


def _patients(fhir: Any) -> tuple[str, str]:
    mine = fhir.create(
        {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/t1"}}
    )
    other = fhir.create(
        {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/t2"}}
    )
    return mine["id"], other["id"]


def test_hook_fhir_search_narrowing_filters_search_read_and_includes(
    make_app, client_for, fhir
) -> None:
    system = client_for(make_app(TenantFilter()))
    mine, other = _patients(fhir)  # written through an app without the plugin
    obs = fhir.create(
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "w"},
            "subject": {"reference": f"Patient/{other}"},
        }
    )
    found = system.get("Patient?_total=accurate").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [mine]
    assert found["total"] == 1
    assert system.get(f"Patient/{other}").status_code == 404
    assert system.get(f"Patient/{mine}").status_code == 200
    bundle = system.get(f"Observation?_id={obs['id']}&_include=Observation:subject").get_json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Observation"]
    history = system.get(f"Patient/{other}/_history")
    assert history.status_code == 404 or history.get_json().get("total") == 0


def test_narrowing_applies_to_writes_too(make_app, client_for, counts) -> None:
    fhir = client_for(make_app(TenantFilter()))
    before = counts()
    resp = fhir.post(
        "Patient",
        {"resourceType": "Patient", "managingOrganization": {"reference": "Organization/t2"}},
    )
    assert resp.status_code == 403
    assert outcome_codes(resp.get_json()) == ["FS-0603"]
    assert counts() == before


def test_narrowing_is_not_applied_to_internal_callers(make_app) -> None:
    filter_ = TenantFilter()
    application = make_app(filter_)
    repository = application.extensions["fireside"].repository
    with repository.transaction() as conn:
        repository.create(RequestContext.system(), conn, {"resourceType": "Patient"})
    request = repository.parse_search("Patient", [])
    assert len(repository.search(RequestContext.system(), request).matches) == 1
    assert filter_.asked == []


def test_failing_narrowing_fails_closed(make_app, client_for) -> None:
    fhir = client_for(make_app(BrokenFilter()))
    resp = fhir.get("Patient")
    assert resp.status_code == 500
    assert "tenant service" not in resp.get_data(as_text=True)


class NameIndex:
    """Answers ``_text`` with the ids of Patients whose family name is the text."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}
        self.asked: list[TextSearch] = []

    @hookimpl
    def fhir_text_search(self, search: TextSearch) -> list[str] | None:
        self.asked.append(search)
        return self.ids.get(search.text.lower(), [])


def test_hook_fhir_text_search_answers_text_and_content(make_app, client_for) -> None:
    index = NameIndex()
    fhir = client_for(make_app(index))
    a = fhir.create({"resourceType": "Patient", "name": [{"family": "Okafor"}], "gender": "male"})
    fhir.create({"resourceType": "Patient", "name": [{"family": "Mensah"}], "gender": "male"})
    index.ids["okafor"] = [a["id"]]
    found = fhir.get("Patient?_text=Okafor&gender=male").get_json()
    assert [e["resource"]["id"] for e in found["entry"]] == [a["id"]]
    assert fhir.get("Patient?_content=nobody").get_json().get("entry", []) == []
    assert index.asked[0].parameter == "_text"
    assert index.asked[1].parameter == "_content"
    assert index.asked[0].resource_type == "Patient"


def test_text_search_without_a_backend_is_a_clear_400(make_app, client_for) -> None:
    fhir = client_for(make_app(plugins_disabled=["search"]))
    resp = fhir.get("Patient?_text=anything")
    assert resp.status_code == 400
    assert outcome_codes(resp.get_json()) == ["FS-3003"]
    assert "not active" in resp.get_json()["issue"][0]["diagnostics"]


def test_text_search_is_refused_in_chains_and_with_modifiers(make_app, client_for) -> None:
    fhir = client_for(make_app(NameIndex()))
    assert fhir.get("Observation?subject._text=x").status_code == 400
    assert fhir.get("Patient?_text:exact=x").status_code == 400
