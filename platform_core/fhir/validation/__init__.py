"""Strict validation of FHIR R4 resources in their JSON form.

``validate_resource`` checks a parsed JSON resource against the official R4 definitions
(:mod:`platform_core.fhir.definitions`) and returns every problem found as an
:class:`~platform_core.fhir.errors.Issue`; an empty list means the resource is valid. It
enforces the JSON representation rules (https://hl7.org/fhir/R4/json.html): known
elements only, JSON types per datatype, no empty or null values, aligned ``_name``
siblings; plus cardinality, choice types, primitive syntax, required bindings, the rules
for contained resources and the cheap invariants listed in ``SUPPORTED_INVARIANTS``.

The resource must have been parsed with ``json.loads(text, parse_float=decimal.Decimal)``
so that decimals keep their precision and are told apart from integers.
"""

from __future__ import annotations

from typing import Any

from platform_core.fhir.definitions import is_resource_type
from platform_core.fhir.error_codes import INVALID_RESOURCE, RESOURCE_TYPE_MISMATCH
from platform_core.fhir.errors import Issue, issue
from platform_core.fhir.validation.invariants import SUPPORTED_INVARIANTS
from platform_core.fhir.validation.walker import Walk, resource_node, walk_resource

__all__ = ["SUPPORTED_INVARIANTS", "validate_resource"]


def validate_resource(resource: dict[str, Any], *, expect_type: str | None = None) -> list[Issue]:
    """All the errors in ``resource``; ``expect_type`` is the type the URL names, if any."""
    walk = Walk()
    kind = resource.get("resourceType") if type(resource) is dict else None
    if expect_type is not None and type(kind) is str and kind != expect_type:
        walk.issues.append(
            issue(
                RESOURCE_TYPE_MISMATCH,
                f"resourceType is {kind!r} but this request is for {expect_type!r}",
                "resourceType",
            )
        )
    known = type(kind) is str and is_resource_type(kind)
    root = kind if known else (expect_type or "Resource")
    node = resource_node(resource, root, walk)
    if node is not None:
        try:
            walk_resource(resource, node, root, walk)
        except RecursionError:
            walk.issues.append(
                issue(INVALID_RESOURCE, f"{root}: the resource is nested too deeply to validate")
            )
    return walk.issues
