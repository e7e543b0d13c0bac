"""ValueSet ``compose.include.filter`` evaluated against a stored CodeSystem.

The R4 filter operators (``filter-operator``) on a CodeSystem's concepts:

* hierarchy, with property ``concept`` (or ``code``): ``is-a`` (the code and its descendants),
  ``descendent-of`` (its descendants), ``is-not-a`` (every concept but the code and its
  descendants), ``generalizes`` (the code and its ancestors);
* on a property (a concept ``property`` by its code, or ``concept``/``code`` and ``display``):
  ``=`` (a value equals), ``in`` / ``not-in`` (a value is / none is in the comma-separated
  list), ``regex`` (a value matches the whole expression), ``exists`` (``true``: the concept
  has the property; ``false``: it has not).

Any other operator answers 400 ``FS-3003`` naming it. Regular expressions are Python's, limited
in length and refused when a repeated group holds a repetition or an alternation itself
(``(a+)+``, ``(a|aa)*``), the shapes that make matching take exponential time.
"""

from __future__ import annotations

import re
from typing import Any

from platform_core.fhir import error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search.codesystems import CodeSystemIndex

HIERARCHY_OPS = frozenset({"is-a", "descendent-of", "is-not-a", "generalizes"})
PROPERTY_OPS = frozenset({"=", "in", "not-in", "regex", "exists"})
CODE_PROPERTIES = frozenset({"concept", "code"})
MAX_REGEX = 256


def apply_filter(index: CodeSystemIndex, item: dict[str, Any], name: str) -> set[str]:
    """The codes of ``index`` that pass one filter (``property``, ``op``, ``value``)."""
    prop, op, value = item.get("property"), item.get("op"), item.get("value")
    if not isinstance(op, str) or op not in HIERARCHY_OPS | PROPERTY_OPS:
        raise _unsupported(name, f"the value set filter operator {op!r} is not supported")
    if not isinstance(prop, str) or not isinstance(value, str):
        raise _unsupported(name, f"a value set filter ({op}) needs a property and a value")
    if op in HIERARCHY_OPS:
        if prop not in CODE_PROPERTIES:
            raise _unsupported(name, f"filter {op} works on the property concept, not {prop!r}")
        return _hierarchy(index, op, value)
    values = {code: _values(index, code, prop) for code in index.codes}
    if op == "=":
        return {code for code, got in values.items() if value in got}
    if op in {"in", "not-in"}:
        wanted = {v.strip() for v in value.split(",")}
        hits = {code for code, got in values.items() if wanted & set(got)}
        return hits if op == "in" else set(index.codes) - hits
    if op == "exists":
        if value not in {"true", "false"}:
            raise _unsupported(name, "filter exists takes the value true or false")
        present = {code for code, got in values.items() if got}
        return present if value == "true" else set(index.codes) - present
    pattern = _regex(value, name)
    return {code for code, got in values.items() if any(pattern.fullmatch(v) for v in got)}


def _hierarchy(index: CodeSystemIndex, op: str, code: str) -> set[str]:
    known = code in index.properties
    if op == "is-a":
        return {code, *index.descendants(code)} if known else set()
    if op == "descendent-of":
        return index.descendants(code)
    if op == "generalizes":
        return {code, *index.ancestors(code)} if known else set()
    return set(index.codes) - {code, *index.descendants(code)}  # is-not-a


def _values(index: CodeSystemIndex, code: str, prop: str) -> list[str]:
    if prop in CODE_PROPERTIES:
        return [code]
    return index.property_values(code, prop)


def _regex(value: str, name: str) -> re.Pattern[str]:
    if len(value) > MAX_REGEX:
        raise _unsupported(name, f"a regex filter may have at most {MAX_REGEX} characters")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise _unsupported(name, f"the regex filter {value!r} is not valid: {exc}") from None
    if _nested_repeat(value):
        raise _unsupported(name, f"the regex filter {value!r} nests repetitions")
    return pattern


def _nested_repeat(value: str) -> bool:
    """Whether a repeated group holds a repetition or an alternation (``(a+)+``, ``(a|b)*``)."""
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's own regex parser

    def walk(items: Any, inside_repeat: bool) -> bool:
        for op, arg in items:
            name = str(op)
            if name in {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}:
                _low, high, sub = arg
                repeats = high is _parser.MAXREPEAT or high > 1
                if inside_repeat and repeats:
                    return True
                if walk(sub, inside_repeat or repeats):
                    return True
            elif name == "SUBPATTERN":
                if walk(arg[-1], inside_repeat):
                    return True
            elif name == "BRANCH":
                if inside_repeat or any(walk(branch, inside_repeat) for branch in arg[1]):
                    return True
            elif name in {"ASSERT", "ASSERT_NOT"} and walk(arg[1], inside_repeat):
                return True
        return False

    try:
        return walk(_parser.parse(value), False)
    except Exception:  # an unexpected parser shape: refuse rather than risk it
        return True


def _unsupported(name: str, message: str) -> FhirError:
    return FhirError.of(400, error_codes.UNSUPPORTED_SEARCH_FEATURE, f"{name}: {message}", name)
