"""Tests for FHIRPath Patch: the cases of the FHIR test suite (fhir-patch-tests.xml) rendered
as JSON, plus choice elements, primitive companions, error handling and Decimal safety."""

from __future__ import annotations

import copy
import decimal
import json
from typing import Any

import pytest

from platform_core.fhir.error_codes import INVALID_PATCH, PATCH_FAILED
from platform_core.fhir.errors import FhirError
from platform_core.fhir.patch import apply_fhirpath_patch, is_repeating


def load(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text, parse_float=decimal.Decimal)
    return value


def op(op_type: str, path: str, **parts: Any) -> dict[str, Any]:
    """One ``operation`` parameter; each keyword is a part given as ``{value[x]: ...}``."""
    rendered: list[dict[str, Any]] = [
        {"name": "type", "valueCode": op_type},
        {"name": "path", "valueString": path},
    ]
    for name, content in parts.items():
        if name in ("index", "source", "destination"):
            rendered.append({"name": name, "valueInteger": content})
        elif name == "name":
            rendered.append({"name": "name", "valueString": content})
        else:
            rendered.append({"name": name, **content})
    return {"name": "operation", "part": rendered}


def patch(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def apply(resource: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    before = copy.deepcopy(resource)
    params = patch(*operations)
    params_before = copy.deepcopy(params)
    result = apply_fhirpath_patch(resource, params)
    assert resource == before, "the input resource must not be mutated"
    assert params == params_before, "the patch must not be mutated"
    return result


def fails(resource: dict[str, Any], *operations: dict[str, Any], status: int = 422) -> FhirError:
    with pytest.raises(FhirError) as info:
        apply_fhirpath_patch(resource, patch(*operations))
    assert info.value.status == status
    expected = PATCH_FAILED if status == 422 else INVALID_PATCH
    assert info.value.issues[0].error == expected
    return info.value


def identifiers(*values: str) -> list[dict[str, str]]:
    return [{"system": "http://example.org", "value": v} for v in values]


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **elements}


# --- the FHIR test cases ------------------------------------------------------------------


def test_no_operations_is_a_copy() -> None:
    resource = patient(birthDate="1920-01-01")
    result = apply(resource)
    assert result == resource
    assert result is not resource


def test_replace_primitive() -> None:
    result = apply(
        patient(birthDate="1920-01-01"),
        op("replace", "Patient.birthDate", value={"valueDate": "1930-01-01"}),
    )
    assert result == patient(birthDate="1930-01-01")


def test_delete_primitive() -> None:
    result = apply(patient(birthDate="1920-01-01"), op("delete", "Patient.birthDate"))
    assert result == patient()


def test_add_primitive_uses_name_not_type_suffix() -> None:
    result = apply(
        patient(), op("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"})
    )
    assert result == patient(birthDate="1930-01-01")


def test_replace_nested_primitives() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}, "gender": "male"}])
    result = apply(
        resource, op("replace", "Patient.contact[0].gender", value={"valueCode": "female"})
    )
    assert result["contact"] == [{"name": {"text": "a name"}, "gender": "female"}]
    result = apply(
        resource, op("replace", "Patient.contact[0].name.text", value={"valueString": "the name"})
    )
    assert result["contact"] == [{"name": {"text": "the name"}, "gender": "male"}]


def test_delete_nested_primitive() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}, "gender": "male"}])
    result = apply(resource, op("delete", "Patient.contact[0].gender"))
    assert result["contact"] == [{"name": {"text": "a name"}}]


def test_delete_nested_primitive_prunes_emptied_parent() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}, "gender": "male"}])
    result = apply(resource, op("delete", "Patient.contact[0].name.text"))
    assert result["contact"] == [{"gender": "male"}]


def test_delete_last_leaf_prunes_up_to_the_resource() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}}])
    assert apply(resource, op("delete", "Patient.contact.name.text")) == patient()


def test_add_nested_primitive() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}}])
    result = apply(
        resource, op("add", "Patient.contact[0]", name="gender", value={"valueCode": "male"})
    )
    assert result["contact"] == [{"name": {"text": "a name"}, "gender": "male"}]


def test_add_replace_delete_complex() -> None:
    added = apply(
        patient(),
        op(
            "add",
            "Patient",
            name="maritalStatus",
            value={"valueCodeableConcept": {"text": "married"}},
        ),
    )
    assert added == patient(maritalStatus={"text": "married"})
    replaced = apply(
        patient(maritalStatus={"id": "1", "text": "married"}),
        op(
            "replace",
            "Patient.maritalStatus",
            value={"valueCodeableConcept": {"id": "2", "text": "not married"}},
        ),
    )
    assert replaced == patient(maritalStatus={"id": "2", "text": "not married"})
    deleted = apply(added, op("delete", "Patient.maritalStatus"))
    assert deleted == patient()


def test_add_anonymous_type_built_from_parts_creates_a_list() -> None:
    result = apply(
        patient(),
        op(
            "add",
            "Patient",
            name="contact",
            value={"part": [{"name": "name", "valueHumanName": {"text": "a name"}}]},
        ),
    )
    # Patient.contact repeats (0..*), so the new element is a one-item array.
    assert result == patient(contact=[{"name": {"text": "a name"}}])


def test_parts_follow_repetition_and_choice_rules() -> None:
    result = apply(
        patient(),
        op(
            "add",
            "Patient",
            name="contact",
            value={
                "part": [
                    {"name": "name", "valueHumanName": {"family": "Doe"}},
                    {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "1"}},
                    {"name": "gender", "valueCode": "female"},
                    {
                        "name": "period",
                        "part": [{"name": "start", "valueDateTime": "2020-01-01"}],
                    },
                ]
            },
        ),
    )
    assert result["contact"] == [
        {
            "name": {"family": "Doe"},
            "telecom": [{"system": "phone", "value": "1"}],
            "gender": "female",
            "period": {"start": "2020-01-01"},
        }
    ]


def test_delete_anonymous_type() -> None:
    resource = patient(contact=[{"name": {"text": "a name"}}])
    assert apply(resource, op("delete", "Patient.contact[0]")) == patient()


def test_replace_values_inside_list() -> None:
    resource = patient(
        identifier=[
            {"id": "a", "system": "http://example.org", "value": "value 1"},
            {"id": "b", "system": "http://example.org", "value": "value 2"},
        ]
    )
    result = apply(
        resource,
        op("replace", "Patient.identifier[0].value", value={"valueString": "value 2"}),
        op("replace", "Patient.identifier[1].value", value={"valueString": "value 1"}),
    )
    assert [i["value"] for i in result["identifier"]] == ["value 2", "value 1"]
    assert [i["id"] for i in result["identifier"]] == ["a", "b"]


def test_add_to_list() -> None:
    result = apply(
        patient(identifier=identifiers("value 1", "value 2")),
        op(
            "add",
            "Patient",
            name="identifier",
            value={"valueIdentifier": {"system": "http://example.org", "value": "value 3"}},
        ),
    )
    assert result["identifier"] == identifiers("value 1", "value 2", "value 3")


def test_add_first_item_of_repeating_element_creates_list() -> None:
    result = apply(
        patient(),
        op("add", "Patient", name="identifier", value={"valueIdentifier": {"value": "x"}}),
    )
    assert result["identifier"] == [{"value": "x"}]


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (1, ["value 1", "value 3", "value 2"]),
        (0, ["value 3", "value 1", "value 2"]),
        (2, ["value 1", "value 2", "value 3"]),
    ],
)
def test_insert_in_list(index: int, expected: list[str]) -> None:
    result = apply(
        patient(identifier=identifiers("value 1", "value 2")),
        op(
            "insert",
            "Patient.identifier",
            index=index,
            value={"valueIdentifier": {"system": "http://example.org", "value": "value 3"}},
        ),
    )
    assert result["identifier"] == identifiers(*expected)


def test_insert_into_absent_list_at_zero() -> None:
    result = apply(
        patient(),
        op("insert", "Patient.identifier", index=0, value={"valueIdentifier": {"value": "x"}}),
    )
    assert result["identifier"] == [{"value": "x"}]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("Patient.identifier[0]", ["value 2", "value 3"]),
        ("Patient.identifier[1]", ["value 1", "value 3"]),
        ("Patient.identifier[2]", ["value 1", "value 2"]),
        ("Patient.identifier.where(value='value 2')", ["value 1", "value 3"]),
        ("Patient.identifier.first()", ["value 2", "value 3"]),
        ("Patient.identifier.last()", ["value 1", "value 2"]),
    ],
)
def test_delete_from_list(path: str, expected: list[str]) -> None:
    result = apply(
        patient(identifier=identifiers("value 1", "value 2", "value 3")), op("delete", path)
    )
    assert result["identifier"] == identifiers(*expected)


def test_delete_only_item_removes_the_list() -> None:
    assert (
        apply(patient(identifier=identifiers("v")), op("delete", "Patient.identifier[0]"))
        == patient()
    )


@pytest.mark.parametrize(
    ("source", "destination", "expected"),
    [
        (3, 1, ["value 1", "value 4", "value 2", "value 3"]),
        (3, 0, ["value 4", "value 1", "value 2", "value 3"]),
        (3, 2, ["value 1", "value 2", "value 4", "value 3"]),
        (0, 3, ["value 2", "value 3", "value 4", "value 1"]),
        (1, 1, ["value 1", "value 2", "value 3", "value 4"]),
    ],
)
def test_reorder_list(source: int, destination: int, expected: list[str]) -> None:
    result = apply(
        patient(identifier=identifiers("value 1", "value 2", "value 3", "value 4")),
        op("move", "Patient.identifier", source=source, destination=destination),
    )
    assert result["identifier"] == identifiers(*expected)


# --- name.given and other primitive lists ---------------------------------------------------


def test_primitive_list_operations_on_given() -> None:
    resource = patient(name=[{"family": "Doe", "given": ["Ann", "Beth"]}])
    added = apply(
        resource, op("add", "Patient.name[0]", name="given", value={"valueString": "Cleo"})
    )
    assert added["name"][0]["given"] == ["Ann", "Beth", "Cleo"]
    inserted = apply(
        resource, op("insert", "Patient.name[0].given", index=0, value={"valueString": "Zoe"})
    )
    assert inserted["name"][0]["given"] == ["Zoe", "Ann", "Beth"]
    replaced = apply(
        resource, op("replace", "Patient.name[0].given[1]", value={"valueString": "B"})
    )
    assert replaced["name"][0]["given"] == ["Ann", "B"]
    deleted = apply(resource, op("delete", "Patient.name.given.where($this = 'Ann')"))
    assert deleted["name"][0]["given"] == ["Beth"]
    moved = apply(resource, op("move", "Patient.name[0].given", source=0, destination=1))
    assert moved["name"][0]["given"] == ["Beth", "Ann"]


def test_indexer_applies_to_the_whole_collection() -> None:
    resource = patient(name=[{"given": ["a", "b"]}, {"given": ["c"]}])
    result = apply(resource, op("replace", "Patient.name.given[2]", value={"valueString": "C"}))
    assert result["name"] == [{"given": ["a", "b"]}, {"given": ["C"]}]


def test_primitive_companions_follow_their_values() -> None:
    resource = patient(
        name=[{"given": ["a", "b", "c"], "_given": [None, {"id": "b-id"}, None]}],
        birthDate="1920-01-01",
        _birthDate={"id": "bd"},
    )
    deleted = apply(resource, op("delete", "Patient.name[0].given[0]"))
    assert deleted["name"][0] == {"given": ["b", "c"], "_given": [{"id": "b-id"}, None]}
    moved = apply(resource, op("move", "Patient.name[0].given", source=1, destination=2))
    assert moved["name"][0] == {"given": ["a", "c", "b"], "_given": [None, None, {"id": "b-id"}]}
    replaced = apply(
        resource, op("replace", "Patient.name[0].given[1]", value={"valueString": "B"})
    )
    assert replaced["name"][0] == {"given": ["a", "B", "c"]}
    birth = apply(
        resource,
        op(
            "replace",
            "Patient.birthDate",
            value={"valueDate": "1930-01-01", "_valueDate": {"id": "new"}},
        ),
    )
    assert birth["birthDate"] == "1930-01-01"
    assert birth["_birthDate"] == {"id": "new"}
    assert "_birthDate" not in apply(resource, op("delete", "Patient.birthDate"))


# --- where / telecom / choice elements --------------------------------------------------------


def test_where_then_child_primitive() -> None:
    resource = patient(
        telecom=[
            {"system": "phone", "use": "work", "value": "111"},
            {"system": "phone", "use": "home", "value": "222"},
        ]
    )
    result = apply(
        resource,
        op("replace", "Patient.telecom.where(use='home').value", value={"valueString": "333"}),
    )
    assert [t["value"] for t in result["telecom"]] == ["111", "333"]


def test_where_on_identifier_system() -> None:
    resource = patient(identifier=[{"system": "x", "value": "1"}, {"system": "y", "value": "2"}])
    result = apply(
        resource,
        op(
            "replace",
            "Patient.identifier.where(system='y')",
            value={"valueIdentifier": {"system": "y", "value": "3"}},
        ),
    )
    assert result["identifier"] == [{"system": "x", "value": "1"}, {"system": "y", "value": "3"}]


def test_choice_replace_may_change_type_and_keeps_order() -> None:
    observation = load(
        '{"resourceType": "Observation", "status": "final", "code": {"text": "t"},'
        ' "valueQuantity": {"value": 1.50, "unit": "kg"}, "note": [{"text": "n"}]}'
    )
    result = apply(observation, op("replace", "Observation.value", value={"valueString": "heavy"}))
    assert list(result) == ["resourceType", "status", "code", "valueString", "note"]
    assert result["valueString"] == "heavy"


def test_choice_add_uses_type_suffix_and_rejects_second_variant() -> None:
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "t"}}
    result = apply(
        observation,
        op("add", "Observation", name="value", value={"valueQuantity": {"value": 2}}),
    )
    assert result["valueQuantity"] == {"value": 2}
    fails(result, op("add", "Observation", name="value", value={"valueString": "x"}))


def test_choice_ofType_filter() -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {"value": 2}}
    assert "valueQuantity" not in apply(
        observation, op("delete", "Observation.value.ofType(Quantity)")
    )
    assert apply(observation, op("delete", "Observation.value.ofType(string)")) == observation


def test_extension_by_url() -> None:
    resource = patient(
        extension=[
            {"url": "http://a", "valueString": "a"},
            {"url": "http://b", "valueString": "b"},
        ]
    )
    result = apply(
        resource,
        op("replace", "Patient.extension('http://b').value", value={"valueCode": "c"}),
    )
    assert result["extension"][1] == {"url": "http://b", "valueCode": "c"}
    removed = apply(resource, op("delete", "Patient.extension('http://a')"))
    assert removed["extension"] == [{"url": "http://b", "valueString": "b"}]


def test_add_extension_built_from_parts_uses_choice_suffix() -> None:
    result = apply(
        patient(),
        op(
            "add",
            "Patient",
            name="extension",
            value={
                "part": [
                    {"name": "url", "valueUri": "http://x"},
                    {"name": "value", "valueBoolean": True},
                ]
            },
        ),
    )
    assert result["extension"] == [{"url": "http://x", "valueBoolean": True}]


def test_add_resource_to_contained() -> None:
    organization = {"resourceType": "Organization", "id": "o", "name": "Org"}
    result = apply(
        patient(), op("add", "Patient", name="contained", value={"resource": organization})
    )
    assert result["contained"] == [organization]
    assert result["contained"][0] is not organization


def test_relative_path_without_type_prefix() -> None:
    assert apply(patient(birthDate="2000-01-01"), op("delete", "birthDate")) == patient()


def test_operations_apply_in_order() -> None:
    result = apply(
        patient(),
        op("add", "Patient", name="birthDate", value={"valueDate": "1930-01-01"}),
        op("replace", "Patient.birthDate", value={"valueDate": "1940-01-01"}),
        op("add", "Patient", name="active", value={"valueBoolean": True}),
        op("delete", "Patient.active"),
    )
    assert result == patient(birthDate="1940-01-01")


# --- Decimal preservation and isolation -----------------------------------------------------


def test_decimals_are_preserved_untouched() -> None:
    observation = load(
        '{"resourceType": "Observation", "status": "final", "code": {"text": "t"},'
        ' "valueQuantity": {"value": 1.50, "unit": "kg"},'
        ' "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 0.10}}]}'
    )
    params = load(
        '{"resourceType": "Parameters", "parameter": [{"name": "operation", "part": ['
        '{"name": "type", "valueCode": "replace"},'
        '{"name": "path", "valueString": "Observation.component[0].value"},'
        '{"name": "value", "valueQuantity": {"value": 2.000, "unit": "g"}}]}]}'
    )
    result = apply_fhirpath_patch(observation, params)
    assert result["valueQuantity"]["value"] == decimal.Decimal("1.50")
    assert str(result["valueQuantity"]["value"]) == "1.50"
    new_value = result["component"][0]["valueQuantity"]["value"]
    assert isinstance(new_value, decimal.Decimal)
    assert str(new_value) == "2.000"
    # the result does not alias the patch document
    assert (
        result["component"][0]["valueQuantity"]
        is not params["parameter"][0]["part"][2]["valueQuantity"]
    )


def test_where_on_decimal_values() -> None:
    observation = load(
        '{"resourceType": "Observation", "component": ['
        '{"code": {"text": "a"}, "valueQuantity": {"value": 1.50}},'
        '{"code": {"text": "b"}, "valueQuantity": {"value": 2.5}}]}'
    )
    result = apply(observation, op("delete", "Observation.component.where(value.value > 2)"))
    assert [c["code"]["text"] for c in result["component"]] == ["a"]
    assert str(result["component"][0]["valueQuantity"]["value"]) == "1.50"


# --- errors ---------------------------------------------------------------------------------


def test_delete_of_nothing_is_a_no_op() -> None:
    resource = patient(birthDate="2000-01-01")
    assert apply(resource, op("delete", "Patient.gender")) == resource
    assert apply(resource, op("delete", "Patient.identifier.where(system='x')")) == resource


def test_delete_of_several_elements_fails() -> None:
    error = fails(patient(identifier=identifiers("a", "b")), op("delete", "Patient.identifier"))
    assert error.issues[0].expression == ("Parameters.parameter[0]",)


@pytest.mark.parametrize(
    "operation",
    [
        op("replace", "Patient.birthDate", value={"valueDate": "2000-01-01"}),
        op("replace", "Patient.identifier", value={"valueIdentifier": {"value": "x"}}),
        op("add", "Patient.contact", name="gender", value={"valueCode": "male"}),
        op("add", "Patient.name", name="given", value={"valueString": "x"}),
        op("insert", "Patient.identifier", index=3, value={"valueIdentifier": {"value": "x"}}),
        op("insert", "Patient.name.given", index=0, value={"valueString": "x"}),
        op("insert", "Patient.gender", index=0, value={"valueCode": "male"}),
        op("move", "Patient.identifier", source=0, destination=2),
        op("move", "Patient.identifier", source=5, destination=0),
        op("move", "Patient.contact", source=0, destination=0),
        op("add", "Patient", name="gender", value={"valueCode": "male"}),
        op("replace", "Patient.identifier.single()", value={"valueIdentifier": {"value": "x"}}),
    ],
)
def test_operations_that_do_not_fit_the_resource(operation: dict[str, Any]) -> None:
    resource = patient(
        gender="female",
        identifier=identifiers("a", "b"),
        name=[{"given": ["a"]}, {"given": ["b"]}],
    )
    fails(resource, operation)


def test_failing_operation_leaves_input_untouched() -> None:
    resource = patient(birthDate="2000-01-01")
    before = copy.deepcopy(resource)
    fails(
        resource,
        op("delete", "Patient.birthDate"),
        op("replace", "Patient.gender", value={"valueCode": "male"}),
    )
    assert resource == before


@pytest.mark.parametrize(
    "params",
    [
        [],
        {"resourceType": "Patient"},
        {"resourceType": "Parameters", "parameter": {}},
        {"resourceType": "Parameters", "parameter": [{"name": "op"}]},
        {"resourceType": "Parameters", "parameter": [{"name": "operation"}]},
        {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [1]}]},
        patch(op("frobnicate", "Patient.birthDate")),
        patch(op("replace", "Patient.birthDate")),
        patch(op("add", "Patient", value={"valueDate": "2000-01-01"})),
        patch(op("add", "Patient", name="bad name", value={"valueDate": "2000-01-01"})),
        patch(op("insert", "Patient.identifier", value={"valueIdentifier": {}})),
        patch(op("delete", "Patient.birthDate", name="x")),
        patch(op("move", "Patient.identifier", source=-1, destination=0)),
        patch(op("replace", "Patient.birthDate", value={})),
        patch(op("replace", "Patient.birthDate", value={"valueDate": "x", "valueString": "y"})),
        patch(op("replace", "Patient.birthDate", value={"valueDate": None})),
        patch(op("replace", "Patient.birthDate", value={"part": []})),
        patch(op("replace", "Patient.birthDate", value={"valueDate": "x", "bogus": 1})),
        patch(op("replace", "", value={"valueDate": "2000-01-01"})),
        patch(op("delete", "Patient")),
        patch(op("delete", "Patient.name | Patient.telecom")),
        patch(op("delete", "Patient.name.where(")),
        patch(op("delete", "Patient.name.exists()")),
        patch(op("delete", "Patient..name")),
        patch(op("delete", "Patient.name.")),
        patch(op("delete", "Patient.name[%i]")),
        patch(op("delete", "Patient.birthDate.extension")),
        patch(op("insert", "Patient.identifier[0]", index=0, value={"valueIdentifier": {}})),
        patch(
            op(
                "add",
                "Patient",
                name="deceased",
                value={"part": [{"name": "x", "valueString": "y"}]},
            )
        ),
        {
            "resourceType": "Parameters",
            "parameter": [
                {
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "delete"},
                        {"name": "type", "valueCode": "delete"},
                        {"name": "path", "valueString": "Patient.birthDate"},
                    ],
                }
            ],
        },
    ],
)
def test_malformed_patches_are_invalid(params: Any) -> None:
    resource = patient(birthDate="2000-01-01", identifier=identifiers("a"), name=[{"given": ["a"]}])
    with pytest.raises(FhirError) as info:
        apply_fhirpath_patch(resource, params)
    assert info.value.status == 400
    assert info.value.issues[0].error == INVALID_PATCH


def test_is_repeating() -> None:
    assert is_repeating("Patient.identifier") is True
    assert is_repeating("Patient.contact.telecom") is True
    assert is_repeating("HumanName.given") is True
    assert is_repeating("Patient.birthDate") is False
    assert is_repeating("Nope.thing") is None
