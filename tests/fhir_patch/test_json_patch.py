"""Tests for JSON Patch (RFC 6902): operations, error mapping (400 vs 422), isolation of the
input and the patch document, and Decimal preservation."""

from __future__ import annotations

import copy
import decimal
import json
from typing import Any

import pytest

from platform_core.fhir.error_codes import INVALID_PATCH, PATCH_FAILED
from platform_core.fhir.errors import FhirError
from platform_core.fhir.patch import apply_json_patch


def load(text: str) -> Any:
    return json.loads(text, parse_float=decimal.Decimal)


@pytest.fixture
def observation() -> dict[str, Any]:
    value: dict[str, Any] = load(
        '{"resourceType": "Observation", "id": "o1", "status": "final",'
        ' "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},'
        ' "valueQuantity": {"value": 72.50, "unit": "kg"},'
        ' "note": [{"text": "a"}, {"text": "b"}]}'
    )
    return value


def apply(resource: dict[str, Any], document: Any) -> dict[str, Any]:
    before = copy.deepcopy(resource)
    document_before = copy.deepcopy(document)
    result = apply_json_patch(resource, document)
    assert resource == before, "the input must not be mutated"
    assert document == document_before, "the patch document must not be mutated"
    return result


def test_all_operations(observation: dict[str, Any]) -> None:
    result = apply(
        observation,
        [
            {"op": "test", "path": "/status", "value": "final"},
            {"op": "replace", "path": "/status", "value": "amended"},
            {"op": "add", "path": "/note/1", "value": {"text": "inserted"}},
            {"op": "add", "path": "/note/-", "value": {"text": "last"}},
            {"op": "remove", "path": "/note/0"},
            {"op": "copy", "from": "/code", "path": "/method"},
            {"op": "move", "from": "/method", "path": "/bodySite"},
        ],
    )
    assert result["status"] == "amended"
    assert [n["text"] for n in result["note"]] == ["inserted", "b", "last"]
    assert result["bodySite"] == observation["code"]
    assert "method" not in result
    assert result["bodySite"] is not result["code"]


def test_empty_patch_returns_equal_copy(observation: dict[str, Any]) -> None:
    result = apply(observation, [])
    assert result == observation
    assert result is not observation
    assert result["code"] is not observation["code"]


def test_decimals_survive(observation: dict[str, Any]) -> None:
    document = load(
        '[{"op": "add", "path": "/valueQuantity/comparator", "value": "<"},'
        ' {"op": "add", "path": "/component", "value": [{"code": {"text": "x"},'
        ' "valueQuantity": {"value": 0.10}}]}]'
    )
    result = apply(observation, document)
    value = result["valueQuantity"]["value"]
    assert isinstance(value, decimal.Decimal)
    assert str(value) == "72.50"
    assert str(result["component"][0]["valueQuantity"]["value"]) == "0.10"
    assert result["component"] is not document[1]["value"]


def test_test_compares_decimals_numerically(observation: dict[str, Any]) -> None:
    apply(
        observation,
        [{"op": "test", "path": "/valueQuantity/value", "value": decimal.Decimal("72.5")}],
    )


def test_test_does_not_confuse_booleans_and_numbers() -> None:
    resource = {"resourceType": "Patient", "active": True}
    with pytest.raises(FhirError) as info:
        apply_json_patch(resource, [{"op": "test", "path": "/active", "value": 1}])
    assert info.value.status == 422


@pytest.mark.parametrize(
    "document",
    [
        [{"op": "test", "path": "/status", "value": "preliminary"}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing/deeper", "value": 1}],
        [{"op": "add", "path": "/note/9", "value": {"text": "x"}}],
        [{"op": "add", "path": "/note/x", "value": {"text": "x"}}],
        [{"op": "move", "from": "/missing", "path": "/x"}],
        [{"op": "copy", "from": "/missing", "path": "/x"}],
        [{"op": "add", "path": "/status/x", "value": 1}],
        [{"op": "replace", "path": "", "value": ["not", "an", "object"]}],
        [{"op": "remove", "path": "/note/5"}],
    ],
)
def test_unappliable_patches_fail_with_422(observation: dict[str, Any], document: Any) -> None:
    before = copy.deepcopy(observation)
    with pytest.raises(FhirError) as info:
        apply_json_patch(observation, document)
    assert info.value.status == 422
    assert info.value.issues[0].error == PATCH_FAILED
    assert observation == before


@pytest.mark.parametrize(
    "document",
    [
        {"op": "add", "path": "/x", "value": 1},
        "[]",
        None,
        [1],
        [{"path": "/x"}],
        [{"op": "frobnicate", "path": "/x"}],
        [{"op": 1, "path": "/x"}],
        [{"op": "add", "value": 1}],
        [{"op": "add", "path": "/x"}],
        [{"op": "replace", "path": "/x"}],
        [{"op": "test", "path": "/x"}],
        [{"op": "move", "path": "/x"}],
        [{"op": "copy", "path": "/x", "from": 3}],
        [{"op": "add", "path": "x", "value": 1}],
        [{"op": "add", "path": 5, "value": 1}],
        [{"op": "remove", "path": "/a~2b"}],
        [{"op": "remove", "path": "/a~"}],
    ],
)
def test_malformed_documents_fail_with_400(observation: dict[str, Any], document: Any) -> None:
    with pytest.raises(FhirError) as info:
        apply_json_patch(observation, document)
    assert info.value.status == 400
    assert info.value.issues[0].error == INVALID_PATCH


def test_escaped_pointer_tokens() -> None:
    resource = {"resourceType": "Basic", "a/b": 1, "c~d": 2}
    result = apply(
        resource,
        [
            {"op": "replace", "path": "/a~1b", "value": 3},
            {"op": "remove", "path": "/c~0d"},
        ],
    )
    assert result == {"resourceType": "Basic", "a/b": 3}


def test_failure_names_the_operation(observation: dict[str, Any]) -> None:
    with pytest.raises(FhirError) as info:
        apply_json_patch(
            observation,
            [
                {"op": "replace", "path": "/status", "value": "amended"},
                {"op": "remove", "path": "/nope"},
            ],
        )
    assert "operation 1" in info.value.issues[0].diagnostics
