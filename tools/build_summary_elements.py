"""Generate ``platform_core/fhir/summary_elements.json`` from HL7's R4 StructureDefinitions.

Why: ``_summary=true`` must keep exactly the elements the specification marks ``isSummary``,
``_summary=text`` and ``_elements`` need the mandatory top-level elements, and FHIRPath Patch
needs to know which elements repeat (to store a new element as a JSON array) and which are
choice elements (``value[x]``). Until ``platform_core/fhir/definitions`` exists, this small
generated table carries just those facts, so that the runtime never parses the 35 MB bundles.

Usage::

    python tools/build_summary_elements.py [DEFINITIONS_DIR] [OUTPUT]

``DEFINITIONS_DIR`` defaults to ``/tmp/defs/package/dist/fhir/r4`` and must hold
``profiles-resources.json`` and ``profiles-types.json``.

Output format: ``{"fhirVersion": ..., "types": {KEY: ENTRY}}`` where ``KEY`` is a resource
type (``Patient``), a complex datatype (``HumanName``) or the path of a backbone element
(``Patient.contact``, ``Timing.repeat``). Each ``ENTRY`` has sorted lists of JSON element
names (choice elements expanded, e.g. ``valueQuantity``):

* ``summary`` - elements marked ``isSummary``; for resources also ``id``, ``meta``,
  ``implicitRules`` and every mandatory (``min >= 1``) element;
* ``mandatory`` - elements with ``min >= 1``;
* ``repeating`` - elements whose ``max`` is above 1;
* ``choice`` - base names of choice elements (``value`` for ``value[x]``);
* ``children`` - for complex-typed children, the ``KEY`` describing their content, so that
  consumers can recurse (resource-typed children such as ``contained`` are left out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = Path("/tmp/defs/package/dist/fhir/r4")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "platform_core/fhir/summary_elements.json"

ALWAYS_SUMMARY_IN_RESOURCES = ("id", "meta", "implicitRules")
BACKBONE_CODES = frozenset({"BackboneElement", "Element"})
QUANTITY_PROFILES = {"SimpleQuantity": "Quantity", "MoneyQuantity": "Quantity"}


def _load_definitions(source: Path) -> list[dict[str, Any]]:
    """The base (non-constraint) resource and complex-type StructureDefinitions."""
    definitions: list[dict[str, Any]] = []
    for name in ("profiles-resources.json", "profiles-types.json"):
        bundle = json.loads((source / name).read_text(encoding="utf-8"))
        for entry in bundle.get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") != "StructureDefinition":
                continue
            if resource.get("kind") not in ("resource", "complex-type"):
                continue
            if resource.get("derivation") == "constraint":
                continue
            definitions.append(resource)
    return definitions


def _upper_first(code: str) -> str:
    return code[:1].upper() + code[1:]


def build_table(source: Path) -> dict[str, Any]:
    """Build the table described in the module docstring."""
    definitions = _load_definitions(source)
    resource_types = {d["type"] for d in definitions if d["kind"] == "resource"}
    complex_types = {d["type"] for d in definitions if d["kind"] == "complex-type"}
    types: dict[str, dict[str, Any]] = {}

    for definition in definitions:
        root = definition["type"]
        is_resource = definition["kind"] == "resource"
        for element in definition.get("snapshot", {}).get("element", []):
            path: str = element["path"]
            if "." not in path:
                types.setdefault(root, _empty_entry())
                continue
            parent, name = path.rsplit(".", 1)
            entry = types.setdefault(parent, _empty_entry())
            type_codes = [t.get("code", "") for t in element.get("type", [])]
            if name.endswith("[x]"):
                base = name[:-3]
                entry["choice"].add(base)
                json_names = [base + _upper_first(code) for code in type_codes]
            else:
                json_names = [name]
            mandatory = int(element.get("min", 0)) >= 1
            repeating = element.get("max", "1") not in ("0", "1")
            summary = bool(element.get("isSummary")) or (
                is_resource
                and parent == root
                and (mandatory or name in ALWAYS_SUMMARY_IN_RESOURCES)
            )
            for json_name, code in zip(json_names, type_codes or [""], strict=False):
                if summary:
                    entry["summary"].add(json_name)
                if mandatory:
                    entry["mandatory"].add(json_name)
                if repeating:
                    entry["repeating"].add(json_name)
                child = _child_key(element, path, code, complex_types, resource_types)
                if child is not None:
                    entry["children"][json_name] = child

    return {
        "fhirVersion": "4.0.1",
        "generatedBy": "tools/build_summary_elements.py",
        "types": {key: _freeze(entry) for key, entry in sorted(types.items())},
    }


def _child_key(
    element: dict[str, Any],
    path: str,
    code: str,
    complex_types: set[str],
    resource_types: set[str],
) -> str | None:
    if element.get("contentReference"):
        return str(element["contentReference"]).lstrip("#")
    if code in BACKBONE_CODES:
        return path.removesuffix("[x]")
    code = QUANTITY_PROFILES.get(code, code)
    if code in complex_types and code not in resource_types:
        return code
    return None


def _empty_entry() -> dict[str, Any]:
    return {
        "summary": set(),
        "mandatory": set(),
        "repeating": set(),
        "choice": set(),
        "children": {},
    }


def _freeze(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": sorted(entry["summary"]),
        "mandatory": sorted(entry["mandatory"]),
        "repeating": sorted(entry["repeating"]),
        "choice": sorted(entry["choice"]),
        "children": dict(sorted(entry["children"].items())),
    }


def render(table: dict[str, Any]) -> str:
    """Serialise with one type per line, so that regenerations diff readably."""
    lines = [
        "{",
        f'"fhirVersion": {json.dumps(table["fhirVersion"])},',
        f'"generatedBy": {json.dumps(table["generatedBy"])},',
        '"types": {',
    ]
    items = list(table["types"].items())
    for i, (key, entry) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(key)}: {json.dumps(entry, separators=(',', ':'))}{comma}")
    lines.extend(["}", "}"])
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    table = build_table(source)
    output.write_text(render(table), encoding="utf-8")
    print(f"wrote {len(table['types'])} type entries to {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
