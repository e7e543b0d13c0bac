"""Tests of primitive datatype checks: JSON types, R4 regexes, ranges and calendar dates."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from platform_core.fhir import error_codes as ec
from platform_core.fhir.errors import Issue
from platform_core.fhir.validation import validate_resource
from platform_core.fhir.validation.primitives import check_primitive, describe, xsd_regex

WRONG = ec.WRONG_JSON_TYPE.code
INVALID = ec.INVALID_PRIMITIVE.code
RANGE = ec.INTEGER_RANGE.code
EMPTY = ec.EMPTY_VALUE.code


def check_json(text: str) -> list[Issue]:
    return validate_resource(json.loads(text, parse_float=Decimal))


def extension_value(suffix: str, literal: str) -> list[tuple[str, str]]:
    """Validate ``literal`` (JSON text) as ``Extension.value<suffix>`` of a Basic resource."""
    text = (
        '{"resourceType": "Basic", "code": {"text": "t"}, '
        f'"extension": [{{"url": "http://example.org/x", "value{suffix}": {literal}}}]}}'
    )
    return [(i.error.code, i.expression[0]) for i in check_json(text)]


def outcome(suffix: str, literal: str) -> str | None:
    """The error code for the value, or None when valid; checks the expression too."""
    found = extension_value(suffix, literal)
    if not found:
        return None
    assert len(found) == 1, found
    code, expression = found[0]
    assert expression == f"Basic.extension[0].value{suffix}"
    return code


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("true", None), ("false", None), ('"true"', WRONG), ("1", WRONG), ("0", WRONG)],
)
def test_boolean(literal: str, expected: str | None) -> None:
    assert outcome("Boolean", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("0", None),
        ("-2147483648", None),
        ("2147483647", None),
        ("2147483648", RANGE),
        ("-2147483649", RANGE),
        ("true", WRONG),
        ('"1"', WRONG),
        ("1.0", WRONG),
        ("1e2", WRONG),
    ],
)
def test_integer(literal: str, expected: str | None) -> None:
    assert outcome("Integer", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("1", None), ("2147483647", None), ("0", RANGE), ("-5", RANGE), ("false", WRONG)],
)
def test_positive_int(literal: str, expected: str | None) -> None:
    assert outcome("PositiveInt", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("0", None), ("7", None), ("-1", RANGE), ("2147483648", RANGE), ('"0"', WRONG)],
)
def test_unsigned_int(literal: str, expected: str | None) -> None:
    assert outcome("UnsignedInt", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("1.50", None),
        ("1", None),
        ("-0.001", None),
        ("1e3", None),
        ('"1.5"', WRONG),
        ("true", WRONG),
        ("[1.5]", WRONG),
    ],
)
def test_decimal(literal: str, expected: str | None) -> None:
    assert outcome("Decimal", literal) == expected


def test_decimal_keeps_its_precision_and_rejects_non_finite_numbers() -> None:
    assert check_primitive("decimal", Decimal("1.50")) is None
    assert check_primitive("decimal", float("nan")) is not None
    assert check_primitive("decimal", Decimal("Infinity")) is not None
    assert check_primitive("decimal", 2.5) is None


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"x"', None),
        ('"  leading and trailing  "', None),
        ('"line\\nbreak"', None),
        ('""', EMPTY),
        ("1", WRONG),
        ("true", WRONG),
        ('{"a": 1}', WRONG),
    ],
)
def test_string(literal: str, expected: str | None) -> None:
    assert outcome("String", literal) == expected


def test_string_is_limited_to_one_megabyte() -> None:
    assert check_primitive("string", "a" * (1024 * 1024)) is None
    problem = check_primitive("string", "a" * (1024 * 1024 + 1))
    assert problem is not None and problem[0] == ec.INVALID_PRIMITIVE
    problem = check_primitive("string", "é" * (512 * 1024 + 1))  # 2 bytes each in UTF-8
    assert problem is not None and problem[0] == ec.INVALID_PRIMITIVE


@pytest.mark.parametrize(
    ("literal", "expected"), [('"# Title\\n\\ntext"', None), ('""', EMPTY), ("3", WRONG)]
)
def test_markdown(literal: str, expected: str | None) -> None:
    assert outcome("Markdown", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"abc"', None),
        ('"two words"', None),
        ('"a-b_c:d"', None),
        ('" leading"', INVALID),
        ('"trailing "', INVALID),
        ('"double  space"', INVALID),
        ('"tab\\there"', None),
        ('"tab\\t\\tthere"', INVALID),
        ('""', EMPTY),
        ("1", WRONG),
    ],
)
def test_code(literal: str, expected: str | None) -> None:
    assert outcome("Code", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"a-b.C9"', None),
        ('"' + "a" * 64 + '"', None),
        ('"' + "a" * 65 + '"', INVALID),
        ('"a_b"', INVALID),
        ('"a b"', INVALID),
        ('""', EMPTY),
    ],
)
def test_id(literal: str, expected: str | None) -> None:
    assert outcome("Id", literal) == expected


@pytest.mark.parametrize("suffix", ["Uri", "Url", "Canonical"])
@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"http://example.org/a?b=c"', None),
        ('"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"', None),
        ('"http://example.org/a b"', INVALID),
        ('"http://example.org/\\n"', INVALID),
        ('""', EMPTY),
    ],
)
def test_uri_types(suffix: str, literal: str, expected: str | None) -> None:
    assert outcome(suffix, literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"urn:oid:1.2.36.146.595.217.0.1"', None),
        ('"urn:oid:2.16.840"', None),
        ('"urn:oid:3.1"', INVALID),
        ('"urn:oid:1.02"', INVALID),
        ('"1.2.3"', INVALID),
        ('"urn:oid:1"', INVALID),
    ],
)
def test_oid(literal: str, expected: str | None) -> None:
    assert outcome("Oid", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"urn:uuid:c757873d-ec9a-4326-a141-556f43239520"', None),
        ('"urn:uuid:C757873D-EC9A-4326-A141-556F43239520"', INVALID),
        ('"c757873d-ec9a-4326-a141-556f43239520"', INVALID),
        ('"urn:uuid:c757873d-ec9a-4326-a141"', INVALID),
    ],
)
def test_uuid(literal: str, expected: str | None) -> None:
    assert outcome("Uuid", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"aGVsbG8="', None),
        ('"aGVsbG8gd29ybGQ="', None),
        ('"aGVs\\nbG8g\\r\\nd29y bGQ="', None),
        ('"  aGVsbG8=  "', None),
        ('"aGVsbG8"', INVALID),
        ('"aGV sbG8="', INVALID),
        ('"a=b="', INVALID),
        ('"aGVsbG8======"', INVALID),
        ('"aGVs!G8="', INVALID),
        ('"   "', INVALID),
        ('""', EMPTY),
    ],
)
def test_base64_binary(literal: str, expected: str | None) -> None:
    assert outcome("Base64Binary", literal) == expected


def test_base64_check_is_linear_on_long_invalid_input() -> None:
    value = "AAAA " * 20000 + "!"
    problem = check_primitive("base64Binary", value)
    assert problem is not None and problem[0] == ec.INVALID_PRIMITIVE


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"2020"', None),
        ('"2020-02"', None),
        ('"2020-02-29"', None),
        ('"2000-02-29"', None),
        ('"2019-02-29"', INVALID),
        ('"1900-02-29"', INVALID),
        ('"2020-02-30"', INVALID),
        ('"2020-04-31"', INVALID),
        ('"2020-13"', INVALID),
        ('"2020-00-10"', INVALID),
        ('"2020-1-1"', INVALID),
        ('"0000"', INVALID),
        ('"2020-02-29T10:00:00Z"', INVALID),
        ('"20200229"', INVALID),
    ],
)
def test_date(literal: str, expected: str | None) -> None:
    assert outcome("Date", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"2020"', None),
        ('"2020-02"', None),
        ('"2020-02-29"', None),
        ('"2020-02-29T10:00:00Z"', None),
        ('"2020-01-01T23:59:59.123+14:00"', None),
        ('"2020-01-01T00:00:00-05:00"', None),
        ('"2016-12-31T23:59:60Z"', None),
        ('"2020-01-01T10:00:00"', INVALID),
        ('"2020-01-01T10:00Z"', INVALID),
        ('"2020-01-01T24:00:00Z"', INVALID),
        ('"2020-01-01T10:00:00+15:00"', INVALID),
        ('"2021-02-29T10:00:00Z"', INVALID),
        ('"2020-13-01"', INVALID),
        ('"2020-01-01 10:00:00Z"', INVALID),
    ],
)
def test_date_time(literal: str, expected: str | None) -> None:
    assert outcome("DateTime", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"2020-01-01T10:00:00Z"', None),
        ('"2020-01-01T10:00:00.1234+01:00"', None),
        ('"2020-01-01"', INVALID),
        ('"2020-01-01T10:00:00"', INVALID),
        ('"2020-01-01T10:00Z"', INVALID),
        ('"2020-02-30T10:00:00Z"', INVALID),
    ],
)
def test_instant(literal: str, expected: str | None) -> None:
    assert outcome("Instant", literal) == expected


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ('"10:00:00"', None),
        ('"23:59:59.5"', None),
        ('"00:00:00"', None),
        ('"24:00:00"', INVALID),
        ('"10:00"', INVALID),
        ('"10:00:00Z"', INVALID),
        ('"10:60:00"', INVALID),
    ],
)
def test_time(literal: str, expected: str | None) -> None:
    assert outcome("Time", literal) == expected


def test_message_says_what_to_fix() -> None:
    issues = check_json('{"resourceType": "Patient", "active": "true"}')
    assert [i.diagnostics for i in issues] == [
        'Patient.active: expected a JSON boolean (true/false), got the string "true"'
    ]
    assert issues[0].expression == ("Patient.active",)
    issues = check_json('{"resourceType": "Patient", "birthDate": "2020-02-30"}')
    assert "2020-02-30 is not a day of the calendar" in issues[0].diagnostics


def test_narrative_div_must_be_a_div() -> None:
    ok = check_json(
        '{"resourceType": "Patient", "text": {"status": "generated", '
        '"div": "<div xmlns=\\"http://www.w3.org/1999/xhtml\\">x</div>"}}'
    )
    assert ok == []
    bad = check_json('{"resourceType": "Patient", "text": {"status": "generated", "div": "x"}}')
    assert [(i.error, i.expression) for i in bad] == [(ec.INVALID_PRIMITIVE, ("Patient.text.div",))]


def test_xsd_regex_translation() -> None:
    assert xsd_regex(r"\S*").fullmatch("a\u00a0b")  # no-break space is not XSD whitespace
    assert not xsd_regex(r"\S*").fullmatch("a b")
    assert xsd_regex(r"[ \r\n\t\S]+").fullmatch("any\u2003thing\x0c")
    assert not xsd_regex(r"[^\s]+(\s[^\s]+)*").fullmatch("a\n\nb")
    assert xsd_regex(r"[^\s]+(\s[^\s]+)*").fullmatch("a\u00a0 b")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "the boolean true"),
        (3, "the number 3"),
        (Decimal("1.50"), "the number 1.50"),
        ('say "hi"', 'the string "say \\"hi\\""'),
        ([1, 2], "an array of 2 item(s)"),
        ({}, "an object"),
    ],
)
def test_describe(value: Any, text: str) -> None:
    assert describe(value) == text
