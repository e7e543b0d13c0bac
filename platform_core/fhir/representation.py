"""Response shaping for ``_summary`` and ``_elements``: pure functions over resource dicts.

Why a separate module: the read, vread, history and search interactions all need to return
subsets of resources, and the rules (which elements are "summary", which are mandatory, how
choice elements are selected, the ``SUBSETTED`` tag) are the same everywhere.

Which elements are summary or mandatory comes from ``summary_elements.json`` next to this
module, generated from HL7's R4 StructureDefinitions by ``tools/build_summary_elements.py``
(see that script for the format). Nothing here mutates its inputs; every function returns a
new dict that shares no mutable structure with the argument. Values such as
``decimal.Decimal`` are carried over untouched.

Semantics chosen where the specification leaves room:

* ``_summary=true`` keeps, at every level, only the elements marked ``isSummary``, recursing
  into complex datatypes and backbone elements (so an ``Identifier`` keeps ``system`` and
  ``value`` but loses its own ``extension``). At the top level ``resourceType``, ``id``,
  ``meta``, ``implicitRules`` and mandatory elements are always kept. ``meta`` is kept whole;
  nested resources (``contained``, ``Bundle.entry.resource``) are never summarised, only kept
  or dropped as a whole. A resource type absent from the table is summarised like
  ``DomainResource``.
* A primitive's companion ``_name`` element (its id/extensions) follows ``name``.
* ``_elements`` keeps ``resourceType``, ``id``, ``meta``, the requested top-level elements and
  (as the specification recommends) the resource's mandatory top-level elements. A choice
  base name (``value``) selects whichever ``value[x]`` is present.
* ``_summary=false`` returns an unmarked copy; ``true``, ``text``, ``data`` and ``_elements``
  add the ``SUBSETTED`` tag to ``meta.tag`` unless it is already there.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from platform_core.fhir.error_codes import INVALID_PARAMETER
from platform_core.fhir.errors import FhirError

SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
SUBSETTED_TAG: dict[str, str] = {"system": SUBSETTED_SYSTEM, "code": "SUBSETTED"}

SUMMARY_MODES = ("true", "text", "data", "count", "false")
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_FALLBACK_RESOURCE_KEY = "DomainResource"


@lru_cache(maxsize=1)
def element_table() -> dict[str, dict[str, Any]]:
    """The generated per-type element table (``types`` of ``summary_elements.json``)."""
    text = (
        resources.files("platform_core.fhir")
        .joinpath("summary_elements.json")
        .read_text(encoding="utf-8")
    )
    types: dict[str, dict[str, Any]] = json.loads(text)["types"]
    return types


@lru_cache(maxsize=4096)
def _sets(type_key: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]] | None:
    """(summary, mandatory, choice) names for ``type_key``, or None when unknown."""
    entry = element_table().get(type_key)
    if entry is None:
        return None
    return (
        frozenset(entry["summary"]),
        frozenset(entry["mandatory"]),
        frozenset(entry["choice"]),
    )


def clone(value: Any) -> Any:
    """A structural copy of JSON-like data: new dicts and lists, scalars shared (immutable)."""
    if isinstance(value, dict):
        return {k: clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) for v in value]
    return value


def _base_name(key: str) -> str:
    return key[1:] if key.startswith("_") else key


def _mark_subsetted(resource: dict[str, Any]) -> dict[str, Any]:
    """Add the SUBSETTED tag to ``resource`` (already a private copy) without duplicating it."""
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    tags = meta.get("tag")
    tags = list(tags) if isinstance(tags, list) else []
    if not any(
        isinstance(t, dict)
        and t.get("system") == SUBSETTED_SYSTEM
        and t.get("code") == SUBSETTED_TAG["code"]
        for t in tags
    ):
        tags.append(dict(SUBSETTED_TAG))
    meta["tag"] = tags
    resource["meta"] = meta
    return resource


def _resource_sets(
    resource: dict[str, Any],
) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    resource_type = resource.get("resourceType")
    found = _sets(resource_type) if isinstance(resource_type, str) else None
    if found is None:
        found = _sets(_FALLBACK_RESOURCE_KEY)
    assert found is not None  # the generated table always has DomainResource
    return found


def _summarise_element(node: Any, type_key: str | None) -> Any:
    """Keep only the summary children of a datatype/backbone element, recursively."""
    if not isinstance(node, dict) or type_key is None:
        return clone(node)
    entry = element_table().get(type_key)
    if entry is None:
        return clone(node)
    summary = set(entry["summary"])
    children: dict[str, str] = entry["children"]
    out: dict[str, Any] = {}
    for key, value in node.items():
        name = _base_name(key)
        if name not in summary:
            continue
        out[key] = _summarise_value(value, None if key.startswith("_") else children.get(name))
    return out


def _summarise_value(value: Any, type_key: str | None) -> Any:
    if isinstance(value, list):
        return [_summarise_element(item, type_key) for item in value]
    return _summarise_element(value, type_key)


def _summary_true(resource: dict[str, Any]) -> dict[str, Any]:
    resource_type = resource.get("resourceType")
    key = resource_type if isinstance(resource_type, str) else None
    entry = element_table().get(key or "") or element_table()[_FALLBACK_RESOURCE_KEY]
    summary = set(entry["summary"]) | {"id", "meta", "implicitRules"}
    children: dict[str, str] = entry["children"]
    out: dict[str, Any] = {}
    for k, value in resource.items():
        name = _base_name(k)
        if k == "resourceType" or k == "meta":
            out[k] = clone(value)
        elif name in summary:
            child = None if k.startswith("_") else children.get(name)
            out[k] = _summarise_value(value, child)
    return out


def _keep_top_level(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {
        k: clone(v) for k, v in resource.items() if k == "resourceType" or _base_name(k) in names
    }


def apply_summary(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """Return the ``_summary=mode`` view of ``resource`` (a new dict).

    ``count`` is answered by search itself and is rejected here like unknown modes.
    """
    if mode == "false":
        return clone(resource)
    if mode == "true":
        return _mark_subsetted(_summary_true(resource))
    if mode == "text":
        _summary, mandatory, _choice = _resource_sets(resource)
        return _mark_subsetted(_keep_top_level(resource, {"id", "meta", "text", *mandatory}))
    if mode == "data":
        out = {k: clone(v) for k, v in resource.items() if _base_name(k) != "text"}
        return _mark_subsetted(out)
    if mode == "count":
        raise FhirError.of(
            400,
            INVALID_PARAMETER,
            "_summary=count only applies to search, not to individual resources",
            "_summary",
        )
    raise FhirError.of(
        400,
        INVALID_PARAMETER,
        f"Unknown _summary value {mode!r}; expected one of {', '.join(SUMMARY_MODES)}",
        "_summary",
    )


def _check_element_name(name: str) -> None:
    if not _ELEMENT_NAME.fullmatch(name):
        raise FhirError.of(
            400,
            INVALID_PARAMETER,
            f"Invalid _elements entry {name!r}: expected a top-level element name",
            "_elements",
        )


def parse_elements_param(raw: list[str]) -> list[str]:
    """Split the (possibly repeated) ``_elements`` values into element names.

    Values are comma separated; whitespace around names is ignored, as are empty items
    (``a,,b``). Duplicates are dropped, first occurrence wins. No names at all, or a name
    that is not ``[A-Za-z][A-Za-z0-9]*``, is an ``INVALID_PARAMETER`` error.
    """
    names: list[str] = []
    seen: set[str] = set()
    for value in raw:
        for item in value.split(","):
            name = item.strip()
            if not name:
                continue
            _check_element_name(name)
            if name not in seen:
                seen.add(name)
                names.append(name)
    if not names:
        raise FhirError.of(
            400, INVALID_PARAMETER, "_elements needs at least one element name", "_elements"
        )
    return names


def apply_elements(resource: dict[str, Any], elements: list[str]) -> dict[str, Any]:
    """Return ``resource`` reduced to the ``_elements`` selection (a new, SUBSETTED dict)."""
    for name in elements:
        _check_element_name(name)
    _summary, mandatory, choices = _resource_sets(resource)
    wanted = set(elements) | {"id", "meta"} | set(mandatory)
    out: dict[str, Any] = {}
    for key, value in resource.items():
        name = _base_name(key)
        if key == "resourceType" or name in wanted or _choice_base(name, choices) in wanted:
            out[key] = clone(value)
    return _mark_subsetted(out)


def _choice_base(name: str, choices: frozenset[str]) -> str | None:
    """``value`` for ``valueQuantity`` when ``value`` is a choice element of the type."""
    for base in choices:
        if len(name) > len(base) and name.startswith(base) and name[len(base)].isupper():
            return base
    return None


__all__ = [
    "SUBSETTED_SYSTEM",
    "SUBSETTED_TAG",
    "SUMMARY_MODES",
    "apply_elements",
    "apply_summary",
    "clone",
    "element_table",
    "parse_elements_param",
]
