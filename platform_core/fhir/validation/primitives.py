"""Checks of FHIR primitive values as they appear in JSON.

The JSON format (https://hl7.org/fhir/R4/json.html) fixes the JSON type of each primitive:
``boolean`` is a JSON boolean, ``integer``/``positiveInt``/``unsignedInt`` JSON integers
and ``decimal`` a JSON number; every other primitive is a JSON string. The lexical rules
are the regexes of the R4 datatypes (from ``profiles-types.json``), which use XML Schema
regex syntax: they are anchored and ``\\s`` means only space, tab, CR and LF. On top of the
regexes, dates must exist in the calendar (no 2020-02-30).

Each check returns None when the value is fine, else ``(error code, what is wrong)``; the
caller prefixes the FHIRPath. The input was parsed with ``parse_float=Decimal``, so a JSON
``1.5`` is a Decimal and ``1`` an int; ``bool`` is a subclass of ``int`` in Python, which
is why the integer checks test ``type(value) is int``.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from platform_core.fhir import error_codes as ec
from platform_core.fhir.definitions import primitive_types
from platform_core.fhir.error_codes import ErrorCode

Problem = tuple[ErrorCode, str]
PrimitiveCheck = Callable[[Any], Problem | None]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
STRING_MAX_BYTES = 1024 * 1024
_XSD_SPACE = " \\t\\n\\r"


def describe(value: Any) -> str:
    """A short description of a JSON value for messages (``the string "true"``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, int | Decimal | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {_quote(shown)}"
    if isinstance(value, list):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def xsd_regex(pattern: str) -> re.Pattern[str]:
    """Compile an XML Schema regex for Python's ``re`` (use with ``fullmatch``).

    Only the escapes ``\\s`` and ``\\S`` differ in meaning between the two dialects for the
    regexes of the FHIR datatypes; they are rewritten to explicit classes.
    """
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "s":
                out.append(f"[{_XSD_SPACE}]")
            elif nxt == "S":
                out.append(f"[^{_XSD_SPACE}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
        elif char == "[":
            end, members, negated = _read_class(pattern, i)
            out.append(_class_to_python(members, negated))
            i = end
        else:
            out.append(char)
            i += 1
    return re.compile("".join(out))


def _read_class(pattern: str, start: int) -> tuple[int, list[str], bool]:
    """Split the character class at ``start`` into members; returns (end, members, ^)."""
    i = start + 1
    negated = pattern[i : i + 1] == "^"
    if negated:
        i += 1
    members: list[str] = []
    while pattern[i] != "]":
        if pattern[i] == "\\":
            members.append(pattern[i : i + 2])
            i += 2
        else:
            members.append(pattern[i])
            i += 1
    return i + 1, members, negated


def _class_to_python(members: list[str], negated: bool) -> str:
    plain = [m for m in members if m not in ("\\s", "\\S")]
    if "\\s" in members:
        plain.append(_XSD_SPACE)
    if "\\S" not in members:
        return "[" + ("^" if negated else "") + "".join(plain) + "]"
    if negated:  # pragma: no cover - no FHIR regex needs this
        raise ValueError("negated class with \\S is not supported")
    non_space = f"[^{_XSD_SPACE}]"
    return f"(?:[{''.join(plain)}]|{non_space})" if plain else non_space


def _regex_of(name: str) -> re.Pattern[str]:
    regex = primitive_types()[name].regex
    if regex is None:  # pragma: no cover - every checked primitive has one
        raise ValueError(f"primitive {name} has no regex")
    return xsd_regex(regex)


def _string_kind(value: Any) -> Problem | None:
    if type(value) is not str:
        return ec.WRONG_JSON_TYPE, f"expected a JSON string, got {describe(value)}"
    if not value:
        return ec.EMPTY_VALUE, "empty strings are not allowed; leave the element out instead"
    return None


def _regex_check(name: str, expected: str) -> PrimitiveCheck:
    matcher = _regex_of(name).fullmatch

    def check(value: Any) -> Problem | None:
        problem = _string_kind(value)
        if problem is not None:
            return problem
        if matcher(value) is None:
            return ec.INVALID_PRIMITIVE, f"{describe(value)} is not a valid {name} ({expected})"
        return None

    return check


def check_boolean(value: Any) -> Problem | None:
    """``boolean``: a JSON true or false."""
    if type(value) is bool:
        return None
    return ec.WRONG_JSON_TYPE, f"expected a JSON boolean (true/false), got {describe(value)}"


def _integer_check(name: str, minimum: int) -> PrimitiveCheck:
    def check(value: Any) -> Problem | None:
        if type(value) is not int:
            return ec.WRONG_JSON_TYPE, (
                f"expected a JSON integer (a number without fraction or exponent), "
                f"got {describe(value)}"
            )
        if value < minimum or value > INT32_MAX:
            return ec.INTEGER_RANGE, (
                f"{value} is out of range for {name} ({minimum} to {INT32_MAX})"
            )
        return None

    return check


def check_decimal(value: Any) -> Problem | None:
    """``decimal``: a JSON number."""
    kind = type(value)
    if kind is int or (kind is Decimal and value.is_finite()):
        return None
    if kind is float and math.isfinite(value):
        return None
    return ec.WRONG_JSON_TYPE, f"expected a JSON number, got {describe(value)}"


def check_string(value: Any) -> Problem | None:
    """``string``: a non-empty JSON string of at most 1 MB."""
    if type(value) is not str:
        return ec.WRONG_JSON_TYPE, f"expected a JSON string, got {describe(value)}"
    if not value:
        return ec.EMPTY_VALUE, "empty strings are not allowed; leave the element out instead"
    if len(value) > STRING_MAX_BYTES // 4 and len(value.encode("utf-8")) > STRING_MAX_BYTES:
        return ec.INVALID_PRIMITIVE, "strings are limited to 1 MB"
    return None


def check_markdown(value: Any) -> Problem | None:
    """``markdown``: a non-empty JSON string."""
    return _string_kind(value)


def check_xhtml(value: Any) -> Problem | None:
    """``xhtml`` (Narrative.div): a non-empty JSON string holding an XHTML ``div``."""
    problem = _string_kind(value)
    if problem is not None:
        return problem
    if not value.lstrip().startswith("<div"):
        return ec.INVALID_PRIMITIVE, "the narrative must be an XHTML <div> element"
    return None


_BASE64_CHARS = re.compile(r"[A-Za-z0-9+/=]+").fullmatch
_XSD_SPLIT = re.compile(r"[ \t\n\r]+").split


def check_base64(value: Any) -> Problem | None:
    """``base64Binary``: groups of four base64 characters, whitespace between groups.

    Equivalent to the R4 regex ``(\\s*([0-9a-zA-Z\\+/=]){4}\\s*)+`` but linear (the regex
    backtracks exponentially on long invalid input); padding ``=`` is only allowed at the
    end, as RFC 4648 requires.
    """
    problem = _string_kind(value)
    if problem is not None:
        return problem
    chunks = [c for c in _XSD_SPLIT(value) if c]
    if not chunks:
        return ec.INVALID_PRIMITIVE, "base64Binary content is only whitespace"
    for chunk in chunks:
        if len(chunk) % 4 or _BASE64_CHARS(chunk) is None:
            return ec.INVALID_PRIMITIVE, (
                "not valid base64: expected groups of 4 characters from A-Z a-z 0-9 + / ="
            )
    data = "".join(chunks)
    stripped = data.rstrip("=")
    if "=" in stripped or len(data) - len(stripped) > 2:
        return ec.INVALID_PRIMITIVE, "not valid base64: '=' may only pad the end (at most 2)"
    return None


def _calendar_problem(value: str) -> str | None:
    """The date part of a date/dateTime/instant, checked against the calendar."""
    if len(value) < 10 or value[8:10] <= "28":
        return None
    try:
        datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return f"{value[0:10]} is not a day of the calendar"
    return None


def _temporal_check(name: str, expected: str) -> PrimitiveCheck:
    matcher = _regex_of(name).fullmatch

    def check(value: Any) -> Problem | None:
        problem = _string_kind(value)
        if problem is not None:
            return problem
        if matcher(value) is None:
            return ec.INVALID_PRIMITIVE, f"{describe(value)} is not a valid {name} ({expected})"
        calendar = _calendar_problem(value)
        if calendar is not None:
            return ec.INVALID_PRIMITIVE, f"{describe(value)} is not a valid {name}: {calendar}"
        return None

    return check


@functools.cache
def _build_checks() -> dict[str, PrimitiveCheck]:
    return {
        "boolean": check_boolean,
        "integer": _integer_check("integer", INT32_MIN),
        "positiveInt": _integer_check("positiveInt", 1),
        "unsignedInt": _integer_check("unsignedInt", 0),
        "decimal": check_decimal,
        "string": check_string,
        "markdown": check_markdown,
        "xhtml": check_xhtml,
        "base64Binary": check_base64,
        "code": _regex_check("code", "no leading, trailing or double whitespace"),
        "id": _regex_check("id", "1 to 64 characters from A-Z a-z 0-9 - ."),
        "uri": _regex_check("uri", "no whitespace"),
        "url": _regex_check("url", "no whitespace"),
        "canonical": _regex_check("canonical", "no whitespace"),
        "oid": _regex_check("oid", "urn:oid: followed by a dotted number such as 1.2.3"),
        "uuid": _regex_check("uuid", "urn:uuid: followed by a lower-case UUID"),
        "date": _temporal_check("date", "YYYY, YYYY-MM or YYYY-MM-DD"),
        "dateTime": _temporal_check(
            "dateTime",
            "YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.fff] with a time zone (Z or +hh:mm)",
        ),
        "instant": _temporal_check(
            "instant", "YYYY-MM-DDThh:mm:ss[.fff] with seconds and a time zone (Z or +hh:mm)"
        ),
        "time": _temporal_check("time", "hh:mm:ss[.fff] with hours 00-23"),
    }


def primitive_check(type_name: str) -> PrimitiveCheck:
    """The check function for a primitive type name (``dateTime``, ``code`` ...)."""
    return _build_checks()[type_name]


def check_primitive(type_name: str, value: Any) -> Problem | None:
    """Check ``value`` as a JSON value of the primitive type ``type_name``."""
    return primitive_check(type_name)(value)
