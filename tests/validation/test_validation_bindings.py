"""Tests of required bindings: code elements, Coding and CodeableConcept."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from platform_core.fhir import error_codes as ec
from platform_core.fhir.errors import Issue
from platform_core.fhir.validation import validate_resource
from platform_core.fhir.validation.bindings import check_coding

CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"


def check(resource: dict[str, Any]) -> list[Issue]:
    return validate_resource(json.loads(json.dumps(resource), parse_float=Decimal))


def found(resource: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.error.code, i.expression[0]) for i in check(resource)]


def test_code_in_the_value_set() -> None:
    assert check({"resourceType": "Patient", "gender": "female"}) == []


def test_code_outside_the_value_set() -> None:
    issues = check({"resourceType": "Patient", "gender": "F"})
    assert [(i.error, i.expression) for i in issues] == [(ec.REQUIRED_BINDING, ("Patient.gender",))]
    assert issues[0].diagnostics == (
        "Patient.gender: 'F' is not in the required value set "
        "http://hl7.org/fhir/ValueSet/administrative-gender "
        "(allowed: female, male, other, unknown)"
    )


def test_codes_are_case_sensitive() -> None:
    assert found({"resourceType": "Patient", "gender": "Male"}) == [
        (ec.REQUIRED_BINDING.code, "Patient.gender")
    ]


def test_code_in_datatypes() -> None:
    resource = {
        "resourceType": "Patient",
        "name": [{"use": "nickname"}, {"use": "alias"}],
        "telecom": [{"system": "pager", "value": "1"}, {"system": "fax2", "value": "2"}],
    }
    assert found(resource) == [
        (ec.REQUIRED_BINDING.code, "Patient.name[1].use"),
        (ec.REQUIRED_BINDING.code, "Patient.telecom[1].system"),
    ]


def test_code_in_primitive_array() -> None:
    resource = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/1"},
        "category": ["food", "drink"],
    }
    assert found(resource) == [(ec.REQUIRED_BINDING.code, "AllergyIntolerance.category[1]")]


def test_bindings_reached_through_content_reference() -> None:
    resource = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": "2", "type": "txt"}]}],
    }
    assert found(resource) == [(ec.REQUIRED_BINDING.code, "Questionnaire.item[0].item[0].type")]


def test_large_value_set_lists_only_some_codes() -> None:
    operation = {
        "resourceType": "OperationDefinition",
        "status": "draft",
        "kind": "operation",
        "name": "Everything",
        "code": "everything",
        "system": False,
        "type": True,
        "instance": True,
        "resource": ["Patient", "Patientx"],
    }
    issues = check(operation)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.REQUIRED_BINDING, ("OperationDefinition.resource[1]",))
    ]
    assert "... (148 codes)" in issues[0].diagnostics


def test_not_checkable_value_sets_are_skipped() -> None:
    resource = {
        "resourceType": "Patient",
        "photo": [{"contentType": "application/x-anything", "url": "http://x/p.png"}],
    }
    assert check(resource) == []
    invoice = {
        "resourceType": "Invoice",
        "status": "issued",
        "totalNet": {"value": 10, "currency": "XXY"},
    }
    assert check(invoice) == []


def test_codeable_concept_with_a_code_of_the_bound_system() -> None:
    resource = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/1"},
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
    }
    assert check(resource) == []


def test_codeable_concept_with_a_wrong_code_of_the_bound_system() -> None:
    resource = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/1"},
        "clinicalStatus": {
            "coding": [
                {"system": "http://example.org/local", "code": "whatever"},
                {"system": CLINICAL, "code": "activ"},
            ]
        },
    }
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.REQUIRED_BINDING, ("AllergyIntolerance.clinicalStatus.coding[1].code",))
    ]
    assert "active, inactive, resolved" in issues[0].diagnostics


def test_codeable_concept_with_other_systems_or_text_only() -> None:
    resource = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": "Patient/1"},
        "clinicalStatus": {"coding": [{"system": "http://example.org", "code": "x"}]},
        "verificationStatus": {"text": "confirmed by phone"},
    }
    assert check(resource) == []


def test_coding_check() -> None:
    systems = {"http://s": frozenset({"a", "b"})}
    issues: list[Issue] = []
    check_coding({"system": "http://s", "code": "a"}, systems, "http://vs", "X.c", issues)
    check_coding({"system": "http://other", "code": "z"}, systems, "http://vs", "X.c", issues)
    check_coding({"code": "z"}, systems, "http://vs", "X.c", issues)
    assert issues == []
    check_coding({"system": "http://s", "code": "z"}, systems, "http://vs", "X.c", issues)
    assert [(i.error, i.expression) for i in issues] == [(ec.REQUIRED_BINDING, ("X.c.code",))]
