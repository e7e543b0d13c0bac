"""Tests of cardinality (min, max) and choice elements (``value[x]``)."""

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


CODE = {"text": "glucose"}


def test_missing_required_element() -> None:
    issues = check({"resourceType": "Observation", "code": CODE})
    assert [(i.error, i.expression) for i in issues] == [
        (ec.CARDINALITY_MIN, ("Observation.status",))
    ]
    assert "add 'status' to Observation" in issues[0].diagnostics


def test_required_complex_element() -> None:
    assert found({"resourceType": "Observation", "status": "final"}) == [
        (ec.CARDINALITY_MIN.code, "Observation.code")
    ]


def test_required_element_in_backbone() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "component": [{"valueString": "x"}],
    }
    assert found(resource) == [(ec.CARDINALITY_MIN.code, "Observation.component[0].code")]


def test_required_element_in_datatype() -> None:
    resource = {"resourceType": "Patient", "extension": [{"valueString": "x"}]}
    assert found(resource) == [(ec.CARDINALITY_MIN.code, "Patient.extension[0].url")]


def test_primitive_present_only_through_its_extension_counts() -> None:
    resource = {
        "resourceType": "Observation",
        "_status": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "unknown",
                }
            ]
        },
        "code": CODE,
    }
    assert check(resource) == []


def test_required_choice_element() -> None:
    resource = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
    }
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.CARDINALITY_MIN, ("MedicationRequest.medication",))
    ]
    assert "medicationCodeableConcept" in issues[0].diagnostics
    resource["medicationReference"] = {"reference": "Medication/1"}
    assert check(resource) == []


def test_prohibited_element() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "referenceRange": [{"low": {"value": 1, "comparator": "<"}}],
    }
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.CARDINALITY_MAX, ("Observation.referenceRange[0].low.comparator",))
    ]
    assert "sqty-1" in issues[0].diagnostics


def test_comparator_allowed_on_plain_quantity() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "valueQuantity": {"value": 1, "comparator": "<"},
    }
    assert check(resource) == []


def test_two_choice_variants() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "valueString": "a",
        "valueBoolean": True,
    }
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.MULTIPLE_CHOICE, ("Observation.valueBoolean",))
    ]
    assert "'valueString'" in issues[0].diagnostics


def test_choice_variant_through_its_extension_sibling_counts() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "valueQuantity": {"value": 1},
        "_valueString": {"extension": [{"url": "http://e", "valueCode": "x"}]},
    }
    assert found(resource) == [(ec.MULTIPLE_CHOICE.code, "Observation.valueString")]


def test_choice_type_not_allowed() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "valueHumanName": {"family": "x"},
    }
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.UNKNOWN_ELEMENT, ("Observation.valueHumanName",))
    ]
    assert "value[x] takes a type suffix, one of: valueQuantity" in issues[0].diagnostics


def test_choice_without_suffix() -> None:
    resource = {"resourceType": "Observation", "status": "final", "code": CODE, "value": 1}
    issues = check(resource)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.UNKNOWN_ELEMENT, ("Observation.value",))
    ]
    assert "value[x] takes a type suffix" in issues[0].diagnostics


def test_choice_suffix_is_case_sensitive() -> None:
    resource = {"resourceType": "Observation", "status": "final", "code": CODE, "valuestring": "x"}
    assert found(resource) == [(ec.UNKNOWN_ELEMENT.code, "Observation.valuestring")]


def test_choice_value_is_checked_against_its_type() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": CODE,
        "effectiveDateTime": "2020-01-01T10:00:00",
        "valueInteger": 1.5,
    }
    assert found(resource) == [
        (ec.INVALID_PRIMITIVE.code, "Observation.effectiveDateTime"),
        (ec.WRONG_JSON_TYPE.code, "Observation.valueInteger"),
    ]


def test_simple_quantity_choice_suffix_is_quantity() -> None:
    resource = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/1"},
        "medicationCodeableConcept": {"text": "x"},
        "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "comparator": ">"}}]}],
    }
    assert found(resource) == [
        (
            ec.CARDINALITY_MAX.code,
            "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.comparator",
        )
    ]
