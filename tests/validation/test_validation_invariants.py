"""Tests of the specification invariants the validator enforces, one test per rule."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import pytest

from platform_core.fhir import error_codes as ec
from platform_core.fhir.errors import Issue
from platform_core.fhir.validation import SUPPORTED_INVARIANTS, validate_resource

UCUM = "http://unitsofmeasure.org"


def check(resource: dict[str, Any]) -> list[Issue]:
    return validate_resource(json.loads(json.dumps(resource), parse_float=Decimal))


def broken(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(invariant key, expression) of each INVARIANT issue; fails on any other issue."""
    result = []
    for found in check(resource):
        assert found.error == ec.INVARIANT, found.diagnostics
        match = re.search(r"\(([a-z]+-[0-9]+)\)", found.diagnostics)
        assert match is not None, found.diagnostics
        key = match.group(1)
        result.append((key, found.expression[0]))
    return result


def basic_with(suffix: str, value: Any) -> dict[str, Any]:
    """A Basic resource whose one extension has ``value<suffix>``."""
    return {
        "resourceType": "Basic",
        "code": {"text": "t"},
        "extension": [{"url": "http://example.org/x", f"value{suffix}": value}],
    }


VALUE = "Basic.extension[0]"


def value_of(suffix: str) -> str:
    return f"{VALUE}.value{suffix}"


def test_supported_list_is_complete_and_unique() -> None:
    assert len(set(SUPPORTED_INVARIANTS)) == len(SUPPORTED_INVARIANTS)
    assert {"ele-1", "ext-1", "per-1", "dom-3", "ref-1"} <= set(SUPPORTED_INVARIANTS)


def test_ele_1_empty_elements() -> None:
    issues = check({"resourceType": "Patient", "name": [{"id": "n"}], "photo": [{}]})
    assert [(i.error, i.expression[0]) for i in issues] == [
        (ec.EMPTY_VALUE, "Patient.name[0]"),
        (ec.EMPTY_VALUE, "Patient.photo[0]"),
    ]
    assert "ele-1" in issues[0].diagnostics


def test_ext_1_both_value_and_extensions() -> None:
    resource = {
        "resourceType": "Patient",
        "extension": [
            {"url": "http://e", "valueString": "x", "extension": [{"url": "a", "valueCode": "b"}]}
        ],
    }
    assert broken(resource) == [("ext-1", "Patient.extension[0]")]


def test_ext_1_neither_value_nor_extensions() -> None:
    assert broken({"resourceType": "Patient", "extension": [{"url": "http://e"}]}) == [
        ("ext-1", "Patient.extension[0]")
    ]


def test_ext_1_complex_extension_and_value_through_extension_sibling() -> None:
    complex_ext = {"url": "http://e", "extension": [{"url": "a", "valueCode": "b"}]}
    primitive_ext = {
        "url": "http://e",
        "_valueCode": {"extension": [{"url": "http://why", "valueString": "unknown"}]},
    }
    assert check({"resourceType": "Patient", "extension": [complex_ext, primitive_ext]}) == []


@pytest.mark.parametrize(
    ("start", "end", "bad"),
    [
        ("2020-01-02", "2020-01-01", True),
        ("2020-01-01", "2020-01-01", False),
        ("2020-02", "2020-01", True),
        ("2020-01-01T10:00:00Z", "2020-01-01T09:00:00Z", True),
        ("2020-01-01T10:00:00+02:00", "2020-01-01T09:00:00Z", False),
        ("2020-01-01T10:00:00.500Z", "2020-01-01T10:00:00Z", True),
        ("2020-01-02", "2020-01-01T10:00:00Z", False),  # different precision: not comparable
        ("2021", "2020-06", False),
    ],
)
def test_per_1_period_start_before_end(start: str, end: str, bad: bool) -> None:
    resource = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    resource["period"] = {"start": start, "end": end}
    assert broken(resource) == ([("per-1", "Encounter.period")] if bad else [])


def test_rng_2_low_above_high() -> None:
    low = {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}
    high = {"value": 2, "unit": "mg", "system": UCUM, "code": "mg"}
    assert broken(basic_with("Range", {"low": low, "high": high})) == [("rng-2", value_of("Range"))]
    assert broken(basic_with("Range", {"low": high, "high": low})) == []
    other_unit = {**high, "code": "g", "unit": "g"}
    assert broken(basic_with("Range", {"low": low, "high": other_unit})) == []


def test_rat_1_numerator_and_denominator_together() -> None:
    quantity = {"value": 1}
    assert broken(basic_with("Ratio", {"numerator": quantity})) == [("rat-1", value_of("Ratio"))]
    assert broken(basic_with("Ratio", {"numerator": quantity, "denominator": quantity})) == []


def test_qty_3_code_needs_system() -> None:
    assert broken(basic_with("Quantity", {"value": 1, "code": "mg"})) == [
        ("qty-3", value_of("Quantity"))
    ]
    assert broken(basic_with("Quantity", {"value": 1, "code": "mg", "system": UCUM})) == []
    assert broken(basic_with("Quantity", {"value": 1, "unit": "pills"})) == []


def test_sqty_1_comparator_on_simple_quantity() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "referenceRange": [{"high": {"value": 3, "comparator": "<="}}],
    }
    issues = check(resource)
    assert [(i.error, i.expression[0]) for i in issues] == [
        (ec.CARDINALITY_MAX, "Observation.referenceRange[0].high.comparator")
    ]
    assert "sqty-1" in issues[0].diagnostics


def test_age_1() -> None:
    good = {"value": 42, "unit": "yr", "system": UCUM, "code": "a"}
    assert broken(basic_with("Age", good)) == []
    assert broken(basic_with("Age", {"value": 42, "unit": "years"})) == [("age-1", value_of("Age"))]
    assert broken(basic_with("Age", {**good, "system": "http://other"})) == [
        ("age-1", value_of("Age"))
    ]
    assert broken(basic_with("Age", {**good, "value": 0})) == [("age-1", value_of("Age"))]


def test_cnt_3() -> None:
    good = {"value": 3, "system": UCUM, "code": "1"}
    assert broken(basic_with("Count", good)) == []
    assert broken(basic_with("Count", {**good, "value": 2.5})) == [("cnt-3", value_of("Count"))]
    assert broken(basic_with("Count", {**good, "code": "mg"})) == [("cnt-3", value_of("Count"))]


def test_dis_1() -> None:
    good = {"value": 3, "system": UCUM, "code": "km"}
    assert broken(basic_with("Distance", good)) == []
    assert broken(basic_with("Distance", {"value": 3})) == [("dis-1", value_of("Distance"))]


def test_drt_1() -> None:
    good = {"value": 3, "system": UCUM, "code": "h"}
    assert broken(basic_with("Duration", good)) == []
    assert broken(basic_with("Duration", {"value": 3, "unit": "hours"})) == []
    assert broken(basic_with("Duration", {"value": 3, "code": "h", "system": "http://x"})) == [
        ("drt-1", value_of("Duration"))
    ]


def test_att_1_data_needs_content_type() -> None:
    assert broken(basic_with("Attachment", {"data": "aGVsbG8="})) == [
        ("att-1", value_of("Attachment"))
    ]
    assert broken(basic_with("Attachment", {"data": "aGVsbG8=", "contentType": "text/plain"})) == []


def test_cpt_2_value_needs_system() -> None:
    resource = {"resourceType": "Patient", "telecom": [{"value": "555-1234"}]}
    assert broken(resource) == [("cpt-2", "Patient.telecom[0]")]


@pytest.mark.parametrize(
    ("repeat", "key"),
    [
        ({"duration": 1}, "tim-1"),
        ({"period": 1}, "tim-2"),
        ({"duration": -1, "durationUnit": "h"}, "tim-4"),
        ({"period": -1, "periodUnit": "d"}, "tim-5"),
        ({"periodMax": 2}, "tim-6"),
        ({"durationMax": 2}, "tim-7"),
        ({"countMax": 2}, "tim-8"),
        ({"offset": 30}, "tim-9"),
        ({"offset": 30, "when": ["C"]}, "tim-9"),
        ({"timeOfDay": ["08:00:00"], "when": ["MORN"]}, "tim-10"),
    ],
)
def test_timing_repeat_rules(repeat: dict[str, Any], key: str) -> None:
    resource = basic_with("Timing", {"repeat": repeat})
    assert broken(resource) == [(key, f"{value_of('Timing')}.repeat")]


def test_timing_repeat_valid() -> None:
    repeat = {"frequency": 2, "period": 1, "periodUnit": "d", "offset": 30, "when": ["ACM"]}
    assert broken(basic_with("Timing", {"repeat": repeat})) == []


def bundle(kind: str, *entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries), **extra}


PATIENT = {"resource": {"resourceType": "Patient"}}


def test_bdl_1_total_only_for_search_or_history() -> None:
    assert broken(bundle("collection", PATIENT, total=1)) == [("bdl-1", "Bundle")]
    assert broken(bundle("searchset", PATIENT, total=1)) == []


def test_bdl_2_entry_search_only_for_searchset() -> None:
    entry = {**PATIENT, "search": {"mode": "match"}}
    assert broken(bundle("collection", entry)) == [("bdl-2", "Bundle")]
    assert broken(bundle("searchset", entry)) == []


def test_bdl_3_request_for_batch_and_transaction_only() -> None:
    request = {"method": "POST", "url": "Patient"}
    assert broken(bundle("transaction", PATIENT)) == [("bdl-3", "Bundle.entry[0]")]
    assert broken(bundle("collection", {**PATIENT, "request": request})) == [
        ("bdl-3", "Bundle.entry[0]")
    ]
    assert broken(bundle("batch", {**PATIENT, "request": request})) == []


def test_bdl_4_response_for_responses_only() -> None:
    assert broken(bundle("transaction-response", {"response": {"status": "201"}})) == []
    assert broken(bundle("transaction-response", PATIENT)) == [("bdl-4", "Bundle.entry[0]")]
    assert broken(bundle("searchset", {**PATIENT, "response": {"status": "200"}})) == [
        ("bdl-4", "Bundle.entry[0]")
    ]


def test_bdl_5_entry_needs_resource_request_or_response() -> None:
    entry = {"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520"}
    assert broken(bundle("collection", entry)) == [("bdl-5", "Bundle.entry[0]")]


def test_bdl_7_full_url_unique() -> None:
    url = "http://example.org/fhir/Patient/1"
    entry = {"fullUrl": url, **PATIENT}
    assert broken(bundle("collection", entry, entry)) == [("bdl-7", "Bundle")]
    versioned = [
        {"fullUrl": url, "resource": {"resourceType": "Patient", "meta": {"versionId": v}}}
        for v in ("1", "2")
    ]
    assert broken(bundle("collection", *versioned)) == []


def test_bdl_8_full_url_not_version_specific() -> None:
    entry = {"fullUrl": "http://example.org/fhir/Patient/1/_history/2", **PATIENT}
    assert broken(bundle("collection", entry)) == [("bdl-8", "Bundle.entry[0]")]


COMPOSITION = {
    "resource": {
        "resourceType": "Composition",
        "status": "final",
        "type": {"text": "note"},
        "date": "2020-01-01",
        "author": [{"display": "Dr X"}],
        "title": "Note",
    }
}


def test_bdl_9_10_11_documents() -> None:
    identifier = {"system": "urn:ietf:rfc:3986", "value": "urn:uuid:1"}
    good = bundle("document", COMPOSITION, identifier=identifier, timestamp="2020-01-01T00:00:00Z")
    assert broken(good) == []
    assert broken(bundle("document", PATIENT)) == [
        ("bdl-9", "Bundle"),
        ("bdl-10", "Bundle"),
        ("bdl-11", "Bundle"),
    ]


def test_bdl_12_messages_start_with_message_header() -> None:
    assert broken(bundle("message", PATIENT)) == [("bdl-12", "Bundle")]
    header = {
        "resource": {
            "resourceType": "MessageHeader",
            "eventCoding": {"system": "http://example.org/events", "code": "admit"},
            "source": {"endpoint": "http://example.org/source"},
        }
    }
    assert broken(bundle("message", header, PATIENT)) == []


def test_inv_1_parameter_has_exactly_one_kind_of_content() -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "ok1", "valueString": "x"},
            {"name": "ok2", "part": [{"name": "p", "valueInteger": 1}]},
            {"name": "bad1"},
            {"name": "bad2", "valueString": "x", "resource": {"resourceType": "Patient"}},
            {"name": "bad3", "valueString": "x", "part": [{"name": "p", "valueBoolean": True}]},
        ],
    }
    assert broken(parameters) == [
        ("inv-1", "Parameters.parameter[2]"),
        ("inv-1", "Parameters.parameter[3]"),
        ("inv-1", "Parameters.parameter[4]"),
    ]


def test_obs_6_data_absent_reason_only_without_value() -> None:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "valueString": "x",
        "dataAbsentReason": {"text": "unknown"},
    }
    assert broken(resource) == [("obs-6", "Observation")]
    del resource["valueString"]
    assert broken(resource) == []


def test_pat_1_contact_has_details() -> None:
    resource = {"resourceType": "Patient", "contact": [{"gender": "female"}]}
    assert broken(resource) == [("pat-1", "Patient.contact[0]")]
    resource["contact"][0]["telecom"] = [{"system": "phone", "value": "1"}]
    assert broken(resource) == []


def test_invariant_message_quotes_the_specification() -> None:
    resource = {"resourceType": "Patient", "contact": [{"gender": "female"}]}
    assert check(resource)[0].diagnostics == (
        "Patient.contact[0]: SHALL at least contain a contact's details or a reference to an "
        "organization (pat-1)"
    )
