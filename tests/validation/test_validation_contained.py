"""Tests of the contained-resource rules (id, dom-2, dom-3, dom-4, dom-5) and ref-1."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from platform_core.fhir import error_codes as ec
from platform_core.fhir.errors import Issue
from platform_core.fhir.validation import validate_resource


def check(resource: dict[str, Any]) -> list[Issue]:
    return validate_resource(json.loads(json.dumps(resource), parse_float=Decimal))


def found(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.error.code, i.expression[0]) for i in check(resource)]


def patient_with(contained: list[dict[str, Any]], **elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "contained": contained, **elements}


ORG = {"resourceType": "Organization", "id": "org1", "name": "Clinic"}


def test_referenced_contained_resource() -> None:
    assert check(patient_with([ORG], managingOrganization={"reference": "#org1"})) == []


def test_contained_resource_needs_an_id() -> None:
    resource = patient_with(
        [{"resourceType": "Organization", "name": "Clinic"}],
        managingOrganization={"reference": "Organization/1"},
    )
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.CONTAINED_RULE, ("Patient.contained[0]",))
    ]
    assert "needs an id" in issues[0].diagnostics


def test_dom_3_unreferenced_contained_resource() -> None:
    issues = check(patient_with([ORG]))
    assert [(i.error, i.expression) for i in issues] == [(ec.INVARIANT, ("Patient.contained[0]",))]
    assert "(dom-3)" in issues[0].diagnostics and "'#org1'" in issues[0].diagnostics


def test_dom_3_reference_through_canonical() -> None:
    value_set = {
        "resourceType": "ValueSet",
        "id": "vs1",
        "status": "draft",
        "compose": {"include": [{"system": "http://example.org/cs"}]},
    }
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "contained": [value_set],
        "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs1"}],
    }
    assert check(questionnaire) == []


def test_dom_3_contained_resource_referring_to_its_container() -> None:
    provenance = {
        "resourceType": "Provenance",
        "id": "prov",
        "target": [{"reference": "#"}],
        "recorded": "2020-01-01T00:00:00Z",
        "agent": [{"who": {"display": "x"}}],
    }
    assert check(patient_with([provenance])) == []


def test_dom_3_reference_from_another_contained_resource() -> None:
    role = {
        "resourceType": "PractitionerRole",
        "id": "role",
        "organization": {"reference": "#org1"},
    }
    assert check(patient_with([ORG, role], generalPractitioner=[{"reference": "#role"}])) == []


def test_dom_2_no_nested_contained_resources() -> None:
    inner = {"resourceType": "Organization", "id": "inner", "name": "x"}
    outer = {
        "resourceType": "Organization",
        "id": "org1",
        "contained": [inner],
        "partOf": {"reference": "#inner"},
    }
    codes = found(patient_with([outer], managingOrganization={"reference": "#org1"}))
    assert (ec.INVARIANT.code, "Patient.contained[0].contained") in codes


def test_dom_4_no_version_id_or_last_updated() -> None:
    org = {**ORG, "meta": {"versionId": "1", "lastUpdated": "2020-01-01T00:00:00Z"}}
    issues = check(patient_with([org], managingOrganization={"reference": "#org1"}))
    assert [(i.error, i.expression) for i in issues] == [
        (ec.INVARIANT, ("Patient.contained[0].meta.versionId",)),
        (ec.INVARIANT, ("Patient.contained[0].meta.lastUpdated",)),
    ]
    assert all("(dom-4)" in i.diagnostics for i in issues)


def test_dom_4_allows_other_meta() -> None:
    org = {**ORG, "meta": {"profile": ["http://example.org/StructureDefinition/org"]}}
    assert check(patient_with([org], managingOrganization={"reference": "#org1"})) == []


def test_dom_5_no_security_labels() -> None:
    org = {**ORG, "meta": {"security": [{"system": "http://s", "code": "R"}]}}
    issues = check(patient_with([org], managingOrganization={"reference": "#org1"}))
    assert [(i.error, i.expression) for i in issues] == [
        (ec.INVARIANT, ("Patient.contained[0].meta.security",))
    ]
    assert "(dom-5)" in issues[0].diagnostics


def test_narrative_in_contained_resource_is_allowed_in_r4() -> None:
    org = {
        **ORG,
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">C</div>'},
    }
    assert check(patient_with([org], managingOrganization={"reference": "#org1"})) == []


def test_ref_1_local_reference_must_resolve() -> None:
    issues = check(patient_with([ORG], managingOrganization={"reference": "#org2"}))
    assert sorted((i.error.code, i.expression[0]) for i in issues) == [
        (ec.INVARIANT.code, "Patient.contained[0]"),
        (ec.INVARIANT.code, "Patient.managingOrganization.reference"),
    ]
    ref_1 = next(i for i in issues if "(ref-1)" in i.diagnostics)
    assert "no contained resource with id 'org2'" in ref_1.diagnostics


def test_ref_1_without_any_contained_resources() -> None:
    resource = {"resourceType": "Patient", "managingOrganization": {"reference": "#org1"}}
    assert found(resource) == [(ec.INVARIANT.code, "Patient.managingOrganization.reference")]


def test_bundle_entries_are_separate_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": patient_with([ORG], managingOrganization={"reference": "#org1"})},
            {
                "resource": {
                    "resourceType": "Patient",
                    "managingOrganization": {"reference": "#org1"},
                }
            },
        ],
    }
    assert found(bundle) == [
        (ec.INVARIANT.code, "Bundle.entry[1].resource.managingOrganization.reference")
    ]


def test_contained_rules_apply_in_bundle_entries() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient_with([ORG])}],
    }
    assert found(bundle) == [(ec.INVARIANT.code, "Bundle.entry[0].resource.contained[0]")]
