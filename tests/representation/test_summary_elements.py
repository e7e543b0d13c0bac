"""Tests for ``_summary`` and ``_elements`` shaping and the generated summary-element table."""

from __future__ import annotations

import copy
import decimal
import json
from typing import Any

import pytest

from platform_core.fhir.error_codes import INVALID_PARAMETER
from platform_core.fhir.errors import FhirError
from platform_core.fhir.representation import (
    SUBSETTED_TAG,
    apply_elements,
    apply_summary,
    element_table,
    parse_elements_param,
)


def load(text: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(text, parse_float=decimal.Decimal)
    return value


@pytest.fixture
def patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "3", "tag": [{"system": "http://x", "code": "y"}]},
        "implicitRules": "http://rules",
        "language": "en",
        "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
        "extension": [{"url": "http://ext", "valueString": "e"}],
        "identifier": [{"system": "http://ids", "value": "1", "extension": [{"url": "u"}]}],
        "active": True,
        "name": [{"family": "Doe", "given": ["Ann"], "_given": [{"id": "g"}]}],
        "gender": "female",
        "birthDate": "1970-01-01",
        "_birthDate": {"extension": [{"url": "http://t", "valueTime": "10:00:00"}]},
        "deceasedBoolean": False,
        "maritalStatus": {"text": "married"},
        "contact": [{"name": {"text": "c"}}],
        "communication": [{"language": {"text": "en"}}],
    }


@pytest.fixture
def observation() -> dict[str, Any]:
    return load(
        '{"resourceType": "Observation", "id": "o1", "status": "final",'
        ' "text": {"status": "generated", "div": "<div>x</div>"},'
        ' "category": [{"text": "vital-signs"}],'
        ' "code": {"text": "weight"}, "subject": {"reference": "Patient/p1"},'
        ' "valueQuantity": {"value": 72.50, "unit": "kg"},'
        ' "interpretation": [{"text": "normal"}],'
        ' "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 1.0},'
        '   "interpretation": [{"text": "n"}]}]}'
    )


def subsetted(resource: dict[str, Any]) -> bool:
    return SUBSETTED_TAG in resource.get("meta", {}).get("tag", [])


def test_table_has_expected_shape() -> None:
    table = element_table()
    patient = table["Patient"]
    assert {"id", "meta", "implicitRules", "name", "birthDate", "deceasedBoolean"} <= set(
        patient["summary"]
    )
    assert "text" not in patient["summary"]
    assert "maritalStatus" not in patient["summary"]
    assert patient["children"]["contact"] == "Patient.contact"
    assert "identifier" in patient["repeating"]
    assert "deceased" in patient["choice"]
    assert set(table["Observation"]["mandatory"]) == {"status", "code"}
    assert table["Questionnaire.item"]["children"]["item"] == "Questionnaire.item"
    assert "Quantity" in table


def test_summary_true(patient: dict[str, Any]) -> None:
    before = copy.deepcopy(patient)
    result = apply_summary(patient, "true")
    assert patient == before
    assert set(result) == {
        "resourceType",
        "id",
        "meta",
        "implicitRules",
        "identifier",
        "active",
        "name",
        "gender",
        "birthDate",
        "_birthDate",
        "deceasedBoolean",
    }
    # datatypes are summarised too: Identifier.extension is not a summary element
    assert result["identifier"] == [{"system": "http://ids", "value": "1"}]
    assert result["name"] == [{"family": "Doe", "given": ["Ann"], "_given": [{"id": "g"}]}]
    assert result["_birthDate"] == patient["_birthDate"]
    assert subsetted(result)
    assert {"system": "http://x", "code": "y"} in result["meta"]["tag"]
    assert result["meta"]["versionId"] == "3"


def test_summary_true_keeps_mandatory_and_decimals(observation: dict[str, Any]) -> None:
    result = apply_summary(observation, "true")
    assert {"status", "code", "subject", "valueQuantity", "component"} <= set(result)
    assert "category" not in result and "interpretation" not in result and "text" not in result
    assert result["component"] == [
        {"code": {"text": "c"}, "valueQuantity": {"value": decimal.Decimal("1.0")}}
    ]
    assert str(result["valueQuantity"]["value"]) == "72.50"
    assert isinstance(result["valueQuantity"]["value"], decimal.Decimal)


def test_summary_text(observation: dict[str, Any]) -> None:
    result = apply_summary(observation, "text")
    assert set(result) == {"resourceType", "id", "meta", "text", "status", "code"}
    assert subsetted(result)


def test_summary_data(patient: dict[str, Any]) -> None:
    result = apply_summary(patient, "data")
    expected = {k: v for k, v in patient.items() if k not in ("text", "meta")}
    assert {k: v for k, v in result.items() if k != "meta"} == expected
    assert subsetted(result)


def test_summary_false_is_an_unmarked_copy(patient: dict[str, Any]) -> None:
    result = apply_summary(patient, "false")
    assert result == patient
    assert result is not patient and result["name"] is not patient["name"]


def test_subsetted_tag_not_duplicated(patient: dict[str, Any]) -> None:
    once = apply_summary(patient, "data")
    twice = apply_summary(once, "true")
    assert twice["meta"]["tag"].count(SUBSETTED_TAG) == 1


def test_summary_creates_meta_when_missing() -> None:
    result = apply_summary({"resourceType": "Basic", "code": {"text": "x"}}, "true")
    assert result["meta"] == {"tag": [SUBSETTED_TAG]}
    assert result["code"] == {"text": "x"}


def test_summary_of_unknown_type_keeps_resource_basics() -> None:
    result = apply_summary({"resourceType": "Madeup", "id": "1", "foo": 1}, "true")
    assert set(result) == {"resourceType", "id", "meta"}


@pytest.mark.parametrize("mode", ["count", "TRUE", "", "summary"])
def test_invalid_summary_modes(patient: dict[str, Any], mode: str) -> None:
    with pytest.raises(FhirError) as info:
        apply_summary(patient, mode)
    assert info.value.status == 400
    assert info.value.issues[0].error == INVALID_PARAMETER


def test_elements(patient: dict[str, Any]) -> None:
    before = copy.deepcopy(patient)
    result = apply_elements(patient, ["birthDate", "name"])
    assert patient == before
    assert set(result) == {"resourceType", "id", "meta", "name", "birthDate", "_birthDate"}
    assert result["name"] is not patient["name"]
    assert subsetted(result)


def test_elements_choice_and_mandatory(observation: dict[str, Any]) -> None:
    result = apply_elements(observation, ["value"])
    assert set(result) == {"resourceType", "id", "meta", "status", "code", "valueQuantity"}
    assert str(result["valueQuantity"]["value"]) == "72.50"


def test_elements_unknown_names_select_nothing(patient: dict[str, Any]) -> None:
    assert set(apply_elements(patient, ["nothing"])) == {"resourceType", "id", "meta"}


def test_elements_invalid_name(patient: dict[str, Any]) -> None:
    with pytest.raises(FhirError) as info:
        apply_elements(patient, ["name.given"])
    assert info.value.issues[0].error == INVALID_PARAMETER


def test_parse_elements_param() -> None:
    assert parse_elements_param(["name, birthDate", "name,gender,"]) == [
        "name",
        "birthDate",
        "gender",
    ]


@pytest.mark.parametrize(
    "raw", [[""], [","], [], ["name,1abc"], ["na-me"], ["Patient.name"], ["a b"]]
)
def test_parse_elements_param_rejects(raw: list[str]) -> None:
    with pytest.raises(FhirError) as info:
        parse_elements_param(raw)
    assert info.value.status == 400
    assert info.value.issues[0].error == INVALID_PARAMETER
