"""Tests of the FHIR JSON representation rules: resourceType, unknown elements, empty and
null values, arrays versus single values, ``_name`` siblings and nested resources."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from platform_core.fhir import error_codes as ec
from platform_core.fhir.errors import Issue
from platform_core.fhir.validation import validate_resource


def check(resource: dict[str, Any] | str, **kwargs: Any) -> list[Issue]:
    text = resource if isinstance(resource, str) else json.dumps(resource)
    return validate_resource(json.loads(text, parse_float=Decimal), **kwargs)


def found(resource: dict[str, Any] | str, **kwargs: Any) -> list[tuple[str, str]]:
    return [(i.error.code, i.expression[0]) for i in check(resource, **kwargs)]


# --- resourceType -----------------------------------------------------------------------


def test_minimal_resource_is_valid() -> None:
    assert check({"resourceType": "Patient"}) == []


def test_resource_type_is_required() -> None:
    assert found({"id": "x"}) == [(ec.MISSING_RESOURCE_TYPE.code, "Resource")]
    assert found({"id": "x"}, expect_type="Patient") == [(ec.MISSING_RESOURCE_TYPE.code, "Patient")]


def test_resource_type_must_be_a_known_r4_type() -> None:
    issues = check({"resourceType": "Patientt"})
    assert [(i.error, i.expression) for i in issues] == [
        (ec.UNKNOWN_RESOURCE_TYPE, ("Resource.resourceType",))
    ]
    assert 'the string "Patientt" is not a FHIR R4 resource type' in issues[0].diagnostics


def test_abstract_and_non_r4_types_are_unknown() -> None:
    for name in ("Resource", "DomainResource", "SubscriptionStatus", "HumanName"):
        assert found({"resourceType": name}) == [
            (ec.UNKNOWN_RESOURCE_TYPE.code, "Resource.resourceType")
        ]
    assert found({"resourceType": 1}) == [(ec.UNKNOWN_RESOURCE_TYPE.code, "Resource.resourceType")]


def test_resource_must_be_an_object() -> None:
    assert [i.error for i in validate_resource([])] == [ec.WRONG_JSON_TYPE]  # type: ignore[arg-type]


def test_expected_type_mismatch() -> None:
    issues = check({"resourceType": "Observation"}, expect_type="Patient")
    assert issues[0].error == ec.RESOURCE_TYPE_MISMATCH
    assert "'Observation'" in issues[0].diagnostics and "'Patient'" in issues[0].diagnostics


# --- unknown elements -------------------------------------------------------------------


def test_unknown_element_at_the_root() -> None:
    issues = check({"resourceType": "Patient", "gendre": "male"})
    assert [(i.error, i.expression) for i in issues] == [(ec.UNKNOWN_ELEMENT, ("Patient.gendre",))]
    assert "did you mean 'gender'?" in issues[0].diagnostics


def test_unknown_element_in_datatype_and_backbone() -> None:
    resource = {
        "resourceType": "Patient",
        "name": [{"family": "X", "first": "Y"}],
        "contact": [{"name": {"family": "Z"}, "nickname": "W"}],
    }
    assert found(resource) == [
        (ec.UNKNOWN_ELEMENT.code, "Patient.name[0].first"),
        (ec.UNKNOWN_ELEMENT.code, "Patient.contact[0].nickname"),
    ]


def test_resource_type_is_only_allowed_on_resources() -> None:
    resource = {"resourceType": "Patient", "name": [{"resourceType": "HumanName"}]}
    assert (ec.UNKNOWN_ELEMENT.code, "Patient.name[0].resourceType") in found(resource)


def test_elements_of_other_fhir_versions_are_unknown() -> None:
    assert found({"resourceType": "Patient", "meta": {"project": "x"}}) == [
        (ec.UNKNOWN_ELEMENT.code, "Patient.meta.project")
    ]
    assert found({"resourceType": "Patient", "fhir_comments": ["x"]}) == [
        (ec.UNKNOWN_ELEMENT.code, "Patient.fhir_comments")
    ]


# --- empty and null values --------------------------------------------------------------


def test_empty_string_is_rejected() -> None:
    assert found({"resourceType": "Patient", "name": [{"family": ""}]}) == [
        (ec.EMPTY_VALUE.code, "Patient.name[0].family")
    ]


def test_empty_array_is_rejected() -> None:
    assert found({"resourceType": "Patient", "name": []}) == [(ec.EMPTY_VALUE.code, "Patient.name")]
    assert found({"resourceType": "Patient", "name": [{"given": []}]}) == [
        (ec.EMPTY_VALUE.code, "Patient.name[0].given")
    ]


def test_empty_object_is_rejected() -> None:
    assert found({"resourceType": "Patient", "maritalStatus": {}}) == [
        (ec.EMPTY_VALUE.code, "Patient.maritalStatus")
    ]
    assert found({"resourceType": "Patient", "name": [{}]}) == [
        (ec.EMPTY_VALUE.code, "Patient.name[0]")
    ]


def test_element_with_only_an_id_is_empty() -> None:
    assert found({"resourceType": "Patient", "maritalStatus": {"id": "a"}}) == [
        (ec.EMPTY_VALUE.code, "Patient.maritalStatus")
    ]


def test_null_is_rejected() -> None:
    assert found({"resourceType": "Patient", "active": None}) == [
        (ec.NULL_VALUE.code, "Patient.active")
    ]
    assert found({"resourceType": "Patient", "name": None}) == [
        (ec.NULL_VALUE.code, "Patient.name")
    ]
    assert found({"resourceType": "Patient", "name": [None]}) == [
        (ec.NULL_VALUE.code, "Patient.name[0]")
    ]
    assert found({"resourceType": "Patient", "maritalStatus": None}) == [
        (ec.NULL_VALUE.code, "Patient.maritalStatus")
    ]


def test_null_in_primitive_array_without_extension() -> None:
    assert found({"resourceType": "Patient", "name": [{"given": ["a", None]}]}) == [
        (ec.NULL_VALUE.code, "Patient.name[0].given[1]")
    ]


# --- arrays and single values -----------------------------------------------------------


def test_repeating_element_must_be_an_array() -> None:
    issues = check({"resourceType": "Patient", "name": {"family": "X"}})
    assert [(i.error, i.expression) for i in issues] == [(ec.WRONG_JSON_TYPE, ("Patient.name",))]
    assert "must be a JSON array, even for one value" in issues[0].diagnostics
    assert found({"resourceType": "Patient", "name": [{"given": "Peter"}]}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient.name[0].given")
    ]


def test_single_element_must_not_be_an_array() -> None:
    assert found({"resourceType": "Patient", "gender": ["male"]}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient.gender")
    ]
    assert found({"resourceType": "Patient", "maritalStatus": [{"text": "x"}]}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient.maritalStatus")
    ]


def test_complex_element_must_be_an_object() -> None:
    issues = check({"resourceType": "Patient", "maritalStatus": "married"})
    assert [(i.error, i.expression) for i in issues] == [
        (ec.WRONG_JSON_TYPE, ("Patient.maritalStatus",))
    ]
    assert "a CodeableConcept" in issues[0].diagnostics
    assert found({"resourceType": "Patient", "name": ["Peter"]}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient.name[0]")
    ]


# --- primitive extensions (_name) -------------------------------------------------------

_EXT = {"extension": [{"url": "http://example.org/e", "valueString": "x"}]}


def test_primitive_with_extension_sibling() -> None:
    assert check({"resourceType": "Patient", "birthDate": "1970-01-01", "_birthDate": _EXT}) == []
    assert check({"resourceType": "Patient", "_birthDate": _EXT}) == []
    assert check({"resourceType": "Patient", "birthDate": "1970", "_birthDate": {"id": "b"}}) == []


def test_extension_sibling_without_value_needs_extensions() -> None:
    assert found({"resourceType": "Patient", "_birthDate": {"id": "b"}}) == [
        (ec.EMPTY_VALUE.code, "Patient.birthDate")
    ]
    assert found({"resourceType": "Patient", "_birthDate": {}}) == [
        (ec.EMPTY_VALUE.code, "Patient._birthDate")
    ]


def test_extension_sibling_holds_only_id_and_extension() -> None:
    resource = {"resourceType": "Patient", "_active": {"extension": _EXT["extension"], "x": 1}}
    assert found(resource) == [(ec.UNKNOWN_ELEMENT.code, "Patient.active.x")]


def test_extension_sibling_contents_are_validated() -> None:
    resource = {"resourceType": "Patient", "_active": {"extension": [{"url": "http://e"}]}}
    assert found(resource) == [(ec.INVARIANT.code, "Patient.active.extension[0]")]


def test_extension_sibling_only_for_primitives() -> None:
    assert found({"resourceType": "Patient", "_name": [_EXT]}) == [
        (ec.UNKNOWN_ELEMENT.code, "Patient._name")
    ]
    assert found({"resourceType": "Patient", "_nickname": _EXT}) == [
        (ec.UNKNOWN_ELEMENT.code, "Patient._nickname")
    ]


def test_extension_sibling_json_shape() -> None:
    assert found({"resourceType": "Patient", "active": True, "_active": [_EXT]}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient._active")
    ]
    assert found({"resourceType": "Patient", "active": True, "_active": None}) == [
        (ec.NULL_VALUE.code, "Patient._active")
    ]
    assert found({"resourceType": "Patient", "active": True, "_active": "x"}) == [
        (ec.WRONG_JSON_TYPE.code, "Patient._active")
    ]


def test_aligned_primitive_arrays() -> None:
    text = (
        '{"resourceType": "Patient", "name": [{"given": ["a", null, "c"], '
        '"_given": [null, {"extension": [{"url": "http://e", "valueCode": "x"}]}, {"id": "g"}]}]}'
    )
    assert check(text) == []


def test_extension_array_alone() -> None:
    text = (
        '{"resourceType": "Patient", "name": [{"_given": '
        '[{"extension": [{"url": "http://e", "valueCode": "x"}]}]}]}'
    )
    assert check(text) == []
    text = '{"resourceType": "Patient", "name": [{"_given": [null]}]}'
    assert found(text) == [(ec.NULL_VALUE.code, "Patient.name[0]._given[0]")]


def test_both_arrays_null_at_the_same_position() -> None:
    text = '{"resourceType": "Patient", "name": [{"given": ["a", null], "_given": [null, null]}]}'
    issues = check(text)
    assert [(i.error, i.expression) for i in issues] == [
        (ec.NULL_VALUE, ("Patient.name[0].given[1]",))
    ]


def test_aligned_arrays_must_have_the_same_length() -> None:
    text = '{"resourceType": "Patient", "name": [{"given": ["a", "b"], "_given": [{"id": "x"}]}]}'
    assert found(text) == [(ec.PRIMITIVE_EXTENSION_MISMATCH.code, "Patient.name[0].given")]


def test_extension_array_must_be_an_array() -> None:
    text = '{"resourceType": "Patient", "name": [{"given": ["a"], "_given": {"id": "x"}}]}'
    assert found(text) == [(ec.WRONG_JSON_TYPE.code, "Patient.name[0]._given")]


# --- nested resources -------------------------------------------------------------------


def test_bundle_entry_resources_are_validated_against_their_type() -> None:
    resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "active": 1}},
            {"resource": {"resourceType": "Observation", "status": "final", "code": {}}},
        ],
    }
    assert found(resource) == [
        (ec.WRONG_JSON_TYPE.code, "Bundle.entry[0].resource.active"),
        (ec.EMPTY_VALUE.code, "Bundle.entry[1].resource.code"),
    ]


def test_nested_resource_needs_a_known_resource_type() -> None:
    resource = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"id": "a"}}, {"resource": {"resourceType": "Nope"}}],
    }
    assert found(resource) == [
        (ec.MISSING_RESOURCE_TYPE.code, "Bundle.entry[0].resource"),
        (ec.UNKNOWN_RESOURCE_TYPE.code, "Bundle.entry[1].resource.resourceType"),
    ]


def test_parameters_resource_is_validated() -> None:
    resource = {
        "resourceType": "Parameters",
        "parameter": [{"name": "p", "resource": {"resourceType": "Patient", "gender": "x"}}],
    }
    assert found(resource) == [
        (ec.REQUIRED_BINDING.code, "Parameters.parameter[0].resource.gender")
    ]


def test_contained_resources_are_validated() -> None:
    resource = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Organization", "id": "o", "active": "yes"}],
        "managingOrganization": {"reference": "#o"},
    }
    assert found(resource) == [(ec.WRONG_JSON_TYPE.code, "Patient.contained[0].active")]


def test_absurdly_deep_nesting_is_reported_not_raised() -> None:
    questionnaire: dict[str, Any] = {"resourceType": "Questionnaire", "status": "draft"}
    current = questionnaire
    for depth in range(500):
        current["item"] = [{"linkId": str(depth), "type": "group"}]
        current = current["item"][0]
    issues = validate_resource(questionnaire)
    assert [i.error for i in issues] == [ec.INVALID_RESOURCE]


def test_all_problems_are_reported() -> None:
    resource = {
        "resourceType": "Patient",
        "active": "yes",
        "gender": "boy",
        "birthDate": "1970-02-31",
        "foo": 1,
        "name": [{"family": ""}],
    }
    assert {code for code, _ in found(resource)} == {
        ec.WRONG_JSON_TYPE.code,
        ec.REQUIRED_BINDING.code,
        ec.INVALID_PRIMITIVE.code,
        ec.UNKNOWN_ELEMENT.code,
        ec.EMPTY_VALUE.code,
    }
