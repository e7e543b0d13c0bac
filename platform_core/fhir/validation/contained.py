"""Rules for contained resources and local references (dom-2 .. dom-5, ref-1).

R4 (https://hl7.org/fhir/R4/references.html#contained, DomainResource invariants) says a
contained resource

* has an ``id`` (it is only reachable through ``#id``),
* SHALL NOT contain nested contained resources (dom-2),
* SHALL be referred to from elsewhere in the resource, or itself refer to the container
  with ``#`` (dom-3),
* SHALL NOT have ``meta.versionId`` or ``meta.lastUpdated`` (dom-4), nor a security label
  (dom-5);

and a local reference ``#id`` SHALL resolve to a contained resource (ref-1). R4 has no rule
against narrative in contained resources (STU3's dom-1 was dropped).

While the walker goes through one resource it records, in a :class:`Scope`, the contained
resources and every value that may be a local reference (Reference.reference, and uri /
url / canonical values, which dom-3 also counts); :func:`check_scope` then matches them.
A resource in Bundle.entry or Parameters.parameter is a resource of its own with its own
scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from platform_core.fhir.error_codes import CONTAINED_RULE
from platform_core.fhir.errors import Issue, issue
from platform_core.fhir.validation.invariants import violation


@dataclass(slots=True)
class LocalRef:
    """A value starting with ``#`` found in a resource."""

    value: str
    expression: str
    is_reference: bool
    inside: int | None


@dataclass(slots=True)
class Scope:
    """What one resource (with its contained resources) holds for the rules above."""

    refs: list[LocalRef] = field(default_factory=list)
    contained: list[tuple[str | None, str]] = field(default_factory=list)
    current: int | None = None


def check_contained(resource: dict[str, Any], expression: str, issues: list[Issue]) -> None:
    """The rules a contained resource must follow on its own (id, dom-2, dom-4, dom-5)."""
    if "id" not in resource:
        issues.append(
            issue(
                CONTAINED_RULE,
                f"{expression}: a contained resource needs an id, so that it can be "
                "referenced as '#id'",
                expression,
            )
        )
    if "contained" in resource:
        where = f"{expression}.contained"
        issues.append(violation("dom-2", where, "move them up into the container's contained"))
    meta = resource.get("meta")
    if type(meta) is dict:
        for name in ("versionId", "lastUpdated"):
            if name in meta:
                issues.append(violation("dom-4", f"{expression}.meta.{name}"))
        if "security" in meta:
            issues.append(violation("dom-5", f"{expression}.meta.security"))


def check_scope(scope: Scope, issues: list[Issue]) -> None:
    """dom-3 (every contained resource is referenced) and ref-1 (local refs resolve)."""
    if not scope.refs and not scope.contained:
        return
    targets = {ref.value for ref in scope.refs}
    points_to_container = {ref.inside for ref in scope.refs if ref.value == "#"}
    ids = set()
    for index, (resource_id, expression) in enumerate(scope.contained):
        if type(resource_id) is not str:
            continue
        ids.add(resource_id)
        if "#" + resource_id not in targets and index not in points_to_container:
            issues.append(
                violation(
                    "dom-3",
                    expression,
                    f"nothing in the resource refers to '#{resource_id}'",
                )
            )
    for ref in scope.refs:
        if ref.is_reference and ref.value != "#" and ref.value[1:] not in ids:
            issues.append(
                violation(
                    "ref-1",
                    ref.expression,
                    f"there is no contained resource with id {ref.value[1:]!r}",
                )
            )
