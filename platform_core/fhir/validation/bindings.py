"""Checks of codes against the value sets of ``required`` bindings.

A ``code`` element carries the code alone (its system is implied by the binding), so the
code must be one of the value set's codes. A Coding or CodeableConcept names its system:
any coding whose system belongs to the value set must have one of that system's codes;
codings from other systems are left alone (the binding's text or translations may be in
them). Value sets that cannot be expanded offline (see ``definitions.terminology``) are
skipped by the schema, which then attaches no codes.
"""

from __future__ import annotations

from typing import Any

from platform_core.fhir.error_codes import REQUIRED_BINDING
from platform_core.fhir.errors import Issue, issue

_LISTED = 25


def _allowed(codes: frozenset[str]) -> str:
    ordered = sorted(codes)
    shown = ", ".join(ordered[:_LISTED])
    return shown + (f" ... ({len(ordered)} codes)" if len(ordered) > _LISTED else "")


def code_issue(value: str, codes: frozenset[str], url: str, expression: str) -> Issue:
    """The issue for a ``code`` value outside its required value set."""
    return issue(
        REQUIRED_BINDING,
        f"{expression}: {value!r} is not in the required value set {url} "
        f"(allowed: {_allowed(codes)})",
        expression,
    )


def check_coding(
    coding: dict[str, Any],
    systems: dict[str, frozenset[str]],
    url: str,
    expression: str,
    issues: list[Issue],
) -> None:
    """A Coding bound to a required value set: known system -> known code."""
    system = coding.get("system")
    if type(system) is not str or system not in systems:
        return
    code = coding.get("code")
    allowed = systems[system]
    if type(code) is str and code not in allowed:
        where = f"{expression}.code"
        issues.append(
            issue(
                REQUIRED_BINDING,
                f"{where}: {code!r} is not a code of {system} in the required value set "
                f"{url} (allowed: {_allowed(allowed)})",
                where,
            )
        )


def check_codeable_concept(
    concept: dict[str, Any],
    systems: dict[str, frozenset[str]],
    url: str,
    expression: str,
    issues: list[Issue],
) -> None:
    """A CodeableConcept bound to a required value set: check each of its codings."""
    codings = concept.get("coding")
    if type(codings) is not list:
        return
    for index, coding in enumerate(codings):
        if type(coding) is dict:
            check_coding(coding, systems, url, f"{expression}.coding[{index}]", issues)


def check_coded(
    type_name: str,
    value: dict[str, Any],
    systems: dict[str, frozenset[str]],
    url: str,
    expression: str,
    issues: list[Issue],
) -> None:
    """Dispatch on Coding / CodeableConcept."""
    if type_name == "Coding":
        check_coding(value, systems, url, expression, issues)
    else:
        check_codeable_concept(value, systems, url, expression, issues)
