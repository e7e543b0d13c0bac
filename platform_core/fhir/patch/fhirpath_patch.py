"""FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html) for the FHIR ``patch`` interaction.

A FHIRPath Patch is a ``Parameters`` resource whose ``operation`` parameters each carry the
parts ``type`` (add | insert | delete | replace | move), ``path`` and, depending on the type,
``name``, ``value``, ``index``, ``source`` and ``destination``. Operations are applied in
order to a private copy of the resource; the input and the patch are never mutated and the
result shares no mutable structure with either. The caller re-validates the result.

How paths are resolved. FHIRPath evaluation (fhirpathpy, with its R4 model so that choice
elements such as ``Observation.value`` resolve) returns the very dict objects of the resource
for complex nodes, but copies of primitive values. So a path is split into a *parent*
expression and a trailing *selection*: ``Patient.telecom.where(use='home').value`` becomes
parent ``Patient.telecom.where(use='home')`` and selection ``value``. The parent is evaluated
with fhirpathpy and must yield complex elements of this resource (checked by identity); the
selection is applied here, which yields exact locations (container dict, JSON key, list
index) for primitives and complex values alike. The selection is an element name, optionally
followed by any of ``[n]``, ``.first()``, ``.last()``, ``.single()``, ``.where(expr)`` and
``.ofType(Type)``; ``extension('url')`` is also accepted as the name. Filters apply to the
whole collection, as in FHIRPath (``Patient.name.given[1]`` is the second given name across
all names). A path of any other shape is rejected with ``INVALID_PATCH``.

Semantics chosen where the specification leaves room:

* ``add``: ``path`` must select exactly one complex element (the container). The stored JSON
  name is ``name`` plus the value's type suffix only when ``name`` is a choice element of
  the container (``value`` + ``valueString`` -> ``valueString``); otherwise it is ``name``.
  If the container already holds a JSON array under that name, the value is appended; if it
  holds a single value, the add fails (the spec only allows add on non-repeating elements
  that do not exist yet); if absent, the element is created as an array when the R4
  definitions say it repeats (see :func:`is_repeating`), else as a single value. When the
  container's type is unknown, a new element is a single value.
* ``insert`` / ``move``: ``path`` must name a list element (no trailing filter) of exactly
  one container; ``insert`` may create the list when ``index`` is 0.
* ``replace``: ``path`` must select exactly one element; replacing a choice element may
  change its type (``valueQuantity`` -> ``valueString``).
* ``delete``: no match is a successful no-op; more than one match fails. Containers left
  empty by a delete are removed too (FHIR JSON has no empty objects or arrays).
* A primitive's ``_name`` companion (its id and extensions) follows it on every operation; a
  value part may give one as ``_valueString`` etc.
* ``value`` parts made of nested ``part``s build a complex value; a sub-part name given
  several times, or naming a repeating element, becomes an array.

Errors: a malformed patch document or an unsupported path is 400 ``INVALID_PATCH``; a patch
that does not fit this resource (no match, several matches, index out of range, element
already present) is 422 ``PATCH_FAILED``. Each error names ``Parameters.parameter[i]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhirpathpy import evaluate as fhirpath_evaluate
from fhirpathpy.models import models as fhirpath_models

from platform_core.fhir.error_codes import INVALID_PATCH, PATCH_FAILED
from platform_core.fhir.errors import FhirError
from platform_core.fhir.representation import clone, element_table

_R4_MODEL: dict[str, Any] = fhirpath_models["r4"]

OPERATION_TYPES = ("add", "insert", "delete", "replace", "move")
_REQUIRED_PARTS: dict[str, frozenset[str]] = {
    "add": frozenset({"type", "path", "name", "value"}),
    "insert": frozenset({"type", "path", "value", "index"}),
    "delete": frozenset({"type", "path"}),
    "replace": frozenset({"type", "path", "value"}),
    "move": frozenset({"type", "path", "source", "destination"}),
}
_PART_NAMES = frozenset({"type", "path", "name", "value", "index", "source", "destination"})
_INTEGER_KEYS = ("valueInteger", "valueUnsignedInt", "valuePositiveInt")
_ELEMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_VALUE_KEY = re.compile(r"value[A-Z][A-Za-z0-9]*")
_IDENTIFIER = re.compile(r"[%$]?[A-Za-z_][A-Za-z0-9_]*")
_INT_LITERAL = re.compile(r"\d+")
_STRING_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_PART_META_KEYS = frozenset({"name", "id", "extension", "modifierExtension"})
_SELECTION_FUNCTIONS = frozenset({"first", "last", "single", "where", "ofType"})


# --- errors -------------------------------------------------------------------------------


def _invalid(message: str, expression: str | None = None) -> FhirError:
    return FhirError.of(400, INVALID_PATCH, message, expression)


def _failed(message: str, expression: str | None = None) -> FhirError:
    return FhirError.of(422, PATCH_FAILED, message, expression)


def _a(op_type: str) -> str:
    """``an add`` / ``a move``: the operation type with its article, for messages."""
    return f"an {op_type}" if op_type[:1] in "aeiou" else f"a {op_type}"


# --- element knowledge ----------------------------------------------------------------------


def _type_entry(type_key: str | None) -> dict[str, Any] | None:
    if type_key is None:
        return None
    return element_table().get(type_key)


def is_repeating(element_path: str) -> bool | None:
    """Whether ``Type.element`` (``Patient.identifier``, ``Patient.contact.telecom``,
    ``HumanName.given``) repeats in R4, or None when the type or element is unknown.

    ``element_path`` is a type key of the generated table (a resource, a datatype or a
    backbone element path) followed by a JSON element name (choice elements expanded). The
    table lists every repeating element of a known type, so any other name is reported as
    not repeating (an element that does not exist at all is left to validation).
    """
    type_key, _, name = element_path.rpartition(".")
    entry = _type_entry(type_key)
    if entry is None:
        return None
    return name in entry["repeating"]


def _is_choice(type_key: str | None, name: str) -> bool:
    entry = _type_entry(type_key)
    return entry is not None and name in entry["choice"]


def _child_type(type_key: str | None, json_name: str) -> str | None:
    entry = _type_entry(type_key)
    if entry is None:
        return None
    child = entry["children"].get(json_name)
    return child if isinstance(child, str) else None


# --- the patch document ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """A ``value`` part: a typed value[x], a resource, or a complex value built from parts."""

    kind: str  # "typed" | "resource" | "parts"
    suffix: str | None = None  # "String" for valueString (typed only)
    data: Any = None  # the JSON value (typed / resource)
    companion: Any = None  # the ``_valueX`` element of a typed primitive, if any
    parts: tuple[tuple[str, _Value], ...] = ()


@dataclass
class _Operation:
    number: int
    type: str
    path: str
    name: str | None = None
    value: _Value | None = None
    index: int | None = None
    source: int | None = None
    destination: int | None = None
    where: str = ""


def _parse_value(part: dict[str, Any], where: str) -> _Value:
    value_keys = [k for k in part if _VALUE_KEY.fullmatch(k)]
    companion_keys = [k for k in part if k.startswith("_") and _VALUE_KEY.fullmatch(k[1:])]
    has_parts = "part" in part
    has_resource = "resource" in part
    unknown = [
        k
        for k in part
        if k not in _PART_META_KEYS
        and k not in value_keys
        and k not in companion_keys
        and k not in ("part", "resource")
    ]
    if unknown:
        raise _invalid(f"Unexpected member(s) {', '.join(sorted(unknown))} in a value part", where)
    given = len(value_keys) + int(has_parts) + int(has_resource)
    if given != 1:
        raise _invalid(
            "A value part needs exactly one of value[x], resource or nested parts", where
        )
    if companion_keys and (not value_keys or companion_keys != ["_" + value_keys[0]]):
        raise _invalid("A _value[x] member must accompany the matching value[x]", where)
    if value_keys:
        key = value_keys[0]
        data = part[key]
        if data is None:
            raise _invalid(f"{key} must not be null", where)
        companion = part.get("_" + key)
        if companion is not None and not isinstance(companion, dict):
            raise _invalid(f"_{key} must be a JSON object", where)
        return _Value("typed", suffix=key[len("value") :], data=data, companion=companion)
    if has_resource:
        resource = part["resource"]
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise _invalid("resource must be a resource (a JSON object with resourceType)", where)
        return _Value("resource", data=resource)
    sub_parts = part["part"]
    if not isinstance(sub_parts, list) or not sub_parts:
        raise _invalid("part must be a non-empty array", where)
    built: list[tuple[str, _Value]] = []
    for j, sub in enumerate(sub_parts):
        sub_where = f"{where}.part[{j}]"
        if not isinstance(sub, dict):
            raise _invalid("Each part must be a JSON object", sub_where)
        name = sub.get("name")
        if not isinstance(name, str) or not _ELEMENT_NAME.fullmatch(name):
            raise _invalid("Each nested part needs a 'name' that is an element name", sub_where)
        built.append((name, _parse_value(sub, sub_where)))
    return _Value("parts", parts=tuple(built))


def _string_part(part: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    for key in keys:
        if key in part:
            value = part[key]
            if not isinstance(value, str) or not value.strip():
                raise _invalid(f"{key} must be a non-empty string", where)
            return value
    raise _invalid(f"Expected {' or '.join(keys)}", where)


def _integer_part(part: dict[str, Any], where: str) -> int:
    for key in _INTEGER_KEYS:
        if key in part:
            value = part[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _invalid(f"{key} must be a non-negative integer", where)
            return value
    raise _invalid("Expected valueInteger", where)


def _parse_operations(parameters: object) -> list[_Operation]:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise _invalid("A FHIRPath Patch must be a Parameters resource")
    raw = parameters.get("parameter", [])
    if not isinstance(raw, list):
        raise _invalid("Parameters.parameter must be an array", "Parameters.parameter")
    operations: list[_Operation] = []
    for i, parameter in enumerate(raw):
        where = f"Parameters.parameter[{i}]"
        if not isinstance(parameter, dict):
            raise _invalid("Each parameter must be a JSON object", where)
        if parameter.get("name") != "operation":
            raise _invalid(
                f"Unexpected parameter {parameter.get('name')!r}; FHIRPath Patch only has "
                "'operation' parameters",
                where,
            )
        parts = parameter.get("part")
        if not isinstance(parts, list) or not parts:
            raise _invalid("An operation needs its parts (type, path ...)", where)
        by_name: dict[str, tuple[dict[str, Any], str]] = {}
        for j, part in enumerate(parts):
            part_where = f"{where}.part[{j}]"
            if not isinstance(part, dict):
                raise _invalid("Each part must be a JSON object", part_where)
            name = part.get("name")
            if name not in _PART_NAMES:
                raise _invalid(f"Unknown operation part {name!r}", part_where)
            if name in by_name:
                raise _invalid(f"Operation part {name!r} is given more than once", part_where)
            by_name[name] = (part, part_where)
        if "type" not in by_name:
            raise _invalid("The operation has no 'type' part", where)
        type_part, type_where = by_name["type"]
        op_type = _string_part(type_part, ("valueCode", "valueString"), type_where)
        if op_type not in OPERATION_TYPES:
            raise _invalid(
                f"Unknown operation type {op_type!r}; expected one of {', '.join(OPERATION_TYPES)}",
                type_where,
            )
        required = _REQUIRED_PARTS[op_type]
        missing = sorted(required - by_name.keys())
        if missing:
            raise _invalid(
                f"{_a(op_type).capitalize()} operation needs the part(s) {', '.join(missing)}",
                where,
            )
        extra = sorted(by_name.keys() - required)
        if extra:
            raise _invalid(
                f"{_a(op_type).capitalize()} operation does not take the part(s) "
                f"{', '.join(extra)}",
                where,
            )
        path_part, path_where = by_name["path"]
        operation = _Operation(
            number=i,
            type=op_type,
            path=_string_part(path_part, ("valueString",), path_where).strip(),
            where=where,
        )
        if "name" in by_name:
            name_part, name_where = by_name["name"]
            operation.name = _string_part(name_part, ("valueString",), name_where).strip()
            if not _ELEMENT_NAME.fullmatch(operation.name):
                raise _invalid(f"{operation.name!r} is not an element name", name_where)
        if "value" in by_name:
            operation.value = _parse_value(*by_name["value"])
        if "index" in by_name:
            operation.index = _integer_part(*by_name["index"])
        if "source" in by_name:
            operation.source = _integer_part(*by_name["source"])
        if "destination" in by_name:
            operation.destination = _integer_part(*by_name["destination"])
        operations.append(operation)
    return operations


# --- building values ----------------------------------------------------------------------


def _materialise(value: _Value, type_key: str | None, where: str) -> tuple[Any, Any]:
    """The JSON value (and primitive companion, or None) for ``value`` of type ``type_key``."""
    if value.kind == "typed":
        return clone(value.data), clone(value.companion)
    if value.kind == "resource":
        return clone(value.data), None
    entry = _type_entry(type_key)
    grouped: dict[str, list[_Value]] = {}
    for name, sub in value.parts:
        grouped.setdefault(name, []).append(sub)
    out: dict[str, Any] = {}
    for name, subs in grouped.items():
        if _is_choice(type_key, name):
            suffixes = {s.suffix for s in subs}
            if len(subs) != 1 or None in suffixes:
                raise _invalid(f"Choice element {name!r} needs exactly one typed value[x]", where)
            stored = name + subs[0].suffix  # type: ignore[operator]
        else:
            stored = name
        if stored in out:
            raise _invalid(f"Element {stored!r} is given more than once", where)
        child = _child_type(type_key, stored)
        built = [_materialise(s, child, where) for s in subs]
        repeating = len(subs) > 1 or (entry is not None and stored in entry["repeating"])
        if repeating:
            out[stored] = [b[0] for b in built]
            companions = [b[1] for b in built]
            if any(c is not None for c in companions):
                out["_" + stored] = companions
        else:
            out[stored] = built[0][0]
            if built[0][1] is not None:
                out["_" + stored] = built[0][1]
    return out, None


# --- path parsing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    kind: str  # "member" | "call" | "index"
    text: str  # member or function name; index expression for "index"
    arg: str  # function argument text ("" when none)
    start: int  # offset of the step in the path


def _skip_literal(path: str, pos: int) -> int:
    """Position after the string literal or delimited identifier starting at ``pos``."""
    quote = path[pos]
    pos += 1
    while pos < len(path):
        if path[pos] == "\\":
            pos += 2
            continue
        if path[pos] == quote:
            return pos + 1
        pos += 1
    raise _invalid(f"Unterminated {quote}-quoted text in path {path!r}")


def _matching(path: str, pos: int) -> int:
    """Index of the bracket closing the one at ``pos`` (``(`` or ``[``)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[path[pos]]]
    pos += 1
    while pos < len(path):
        c = path[pos]
        if c in ("'", "`", '"'):
            pos = _skip_literal(path, pos)
            continue
        if c in pairs:
            stack.append(pairs[c])
        elif c in (")", "]", "}"):
            if c != stack.pop():
                break
            if not stack:
                return pos
        pos += 1
    raise _invalid(f"Unbalanced brackets in path {path!r}")


def _split_steps(path: str) -> list[_Step]:
    """Split a navigation path into steps; anything but ``a.b(...)[n]...`` is rejected."""
    steps: list[_Step] = []
    pos = 0
    expect_step = True
    while pos < len(path):
        c = path[pos]
        if c.isspace():
            pos += 1
        elif c == ".":
            if expect_step:
                raise _invalid(f"Unexpected '.' in path {path!r}")
            expect_step = True
            pos += 1
        elif c == "[":
            if expect_step:
                raise _invalid(f"Unexpected '[' in path {path!r}")
            end = _matching(path, pos)
            steps.append(_Step("index", path[pos + 1 : end].strip(), "", pos))
            pos = end + 1
        elif expect_step:
            start = pos
            if c == "`":
                pos = _skip_literal(path, pos)
                name = path[start + 1 : pos - 1]
            else:
                match = _IDENTIFIER.match(path, pos)
                if match is None:
                    raise _invalid(f"Unsupported FHIRPath patch path {path!r}")
                name = match.group(0)
                pos = match.end()
            probe = pos
            while probe < len(path) and path[probe].isspace():
                probe += 1
            if probe < len(path) and path[probe] == "(":
                end = _matching(path, probe)
                steps.append(_Step("call", name, path[probe + 1 : end].strip(), start))
                pos = end + 1
            else:
                steps.append(_Step("member", name, "", start))
            expect_step = False
        else:
            raise _invalid(
                f"Unsupported FHIRPath patch path {path!r}: only navigation ('.'), indexers "
                "and functions are supported, not operators"
            )
    if expect_step:
        raise _invalid(f"Incomplete path {path!r}")
    return steps


@dataclass(frozen=True)
class _Selection:
    """A path split as ``parent`` expression + element ``name`` + trailing ``filters``."""

    parent: str  # "" for the resource itself
    name: str
    filters: tuple[_Step, ...]


def _is_filter(step: _Step) -> bool:
    if step.kind == "index":
        return True
    return step.kind == "call" and step.text in _SELECTION_FUNCTIONS


def _split_selection(path: str, resource_type: str) -> _Selection:
    steps = _split_steps(path)
    j = len(steps) - 1
    filters: list[_Step] = []
    while j >= 0 and _is_filter(steps[j]):
        filters.insert(0, steps[j])
        j -= 1
    if j < 0:
        raise _invalid(f"Path {path!r} does not name an element")
    step = steps[j]
    if step.kind == "call" and step.text == "extension":
        url = _STRING_LITERAL.fullmatch(step.arg)
        if url is None:
            raise _invalid(f"extension() in {path!r} needs one string literal (the url)")
        literal = url.group(1).replace("\\'", "'")
        filters.insert(0, _Step("call", "_url", literal, step.start))
    elif step.kind == "call":
        raise _invalid(
            f"Unsupported FHIRPath patch path {path!r}: {step.text}() cannot select the target"
        )
    elif step.text.startswith(("%", "$")):
        raise _invalid(f"Path {path!r} does not name an element")
    if j == 0 and step.kind == "member" and step.text == resource_type:
        raise _invalid(f"Path {path!r} names the whole resource, not an element of it")
    parent = path[: step.start].rstrip().removesuffix(".").rstrip()
    return _Selection(parent, step.text, tuple(filters))


# --- locating elements ----------------------------------------------------------------------


@dataclass
class _Location:
    """One element of the resource: ``container[key]`` or ``container[key][index]``."""

    container: dict[str, Any]
    key: str
    index: int | None
    container_type: str | None
    base_name: str  # the name used in the path (``value`` for ``valueQuantity``)

    @property
    def value(self) -> Any:
        value = self.container[self.key]
        return value if self.index is None else value[self.index]


def _dict_ids(node: Any, seen: set[int] | None = None) -> set[int]:
    seen = set() if seen is None else seen
    if isinstance(node, dict):
        seen.add(id(node))
        for value in node.values():
            _dict_ids(value, seen)
    elif isinstance(node, list):
        for value in node:
            _dict_ids(value, seen)
    return seen


def _evaluate(
    focus: Any, expression: str, root: dict[str, Any], *, base: str | None = None, raw: bool
) -> list[Any]:
    """Evaluate ``expression`` on ``focus`` (typed as ``base`` when known), ``%resource`` being
    ``root``. ``raw`` returns fhirpathpy nodes, whose ``data`` are the resource's own dicts."""
    path: str | dict[str, str] = expression
    if base is not None:
        path = {"expression": expression, "base": base}
    try:
        result = fhirpath_evaluate(
            focus,
            path,
            {"resource": root, "rootResource": root},
            model=_R4_MODEL,
            options={"returnRawData": raw},
        )
    except Exception as exc:  # fhirpathpy raises bare Exceptions for syntax and arity errors
        raise _invalid(f"Cannot evaluate FHIRPath {expression!r}: {exc}") from exc
    return list(result)


def _containers(
    root: dict[str, Any], expression: str, what: str
) -> list[tuple[dict[str, Any], str | None]]:
    """Complex elements of ``root`` selected by ``expression``, with their type keys."""
    resource_type = root.get("resourceType")
    if not expression:
        return [(root, resource_type if isinstance(resource_type, str) else None)]
    nodes = _evaluate(root, expression, root, raw=True)
    ids = _dict_ids(root)
    found: list[tuple[dict[str, Any], str | None]] = []
    for node in nodes:
        data = getattr(node, "data", node)
        if data is None:
            continue
        if not isinstance(data, dict) or id(data) not in ids:
            raise _invalid(
                f"{what} {expression!r} must select complex elements of the resource being "
                "patched (paths into primitive values or other resources are not supported)"
            )
        path = getattr(node, "path", None)
        type_key = path if isinstance(path, str) and _type_entry(path) is not None else None
        found.append((data, type_key))
    return found


def _keys_for(container: dict[str, Any], type_key: str | None, name: str) -> list[str]:
    if name in container:
        return [name]
    entry = _type_entry(type_key)
    if entry is not None and name not in entry["choice"]:
        return []
    return [
        k for k in container if len(k) > len(name) and k.startswith(name) and k[len(name)].isupper()
    ]


def _apply_filter(
    step: _Step, candidates: list[_Location], root: dict[str, Any], path: str
) -> list[_Location]:
    if step.kind == "index":
        if not _INT_LITERAL.fullmatch(step.text):
            raise _invalid(f"Only integer literal indexes are supported in patch paths ({path!r})")
        n = int(step.text)
        return candidates[n : n + 1]
    if step.text == "_url":
        return [
            c for c in candidates if isinstance(c.value, dict) and c.value.get("url") == step.arg
        ]
    if step.text in ("first", "last", "single") and step.arg:
        raise _invalid(f"{step.text}() takes no arguments ({path!r})")
    if step.text == "first":
        return candidates[:1]
    if step.text == "last":
        return candidates[-1:]
    if step.text == "single":
        if len(candidates) > 1:
            raise _failed(f"single() in {path!r} found {len(candidates)} elements")
        return candidates
    if step.text == "ofType":
        wanted = step.arg.removeprefix("FHIR.")
        if not _ELEMENT_NAME.fullmatch(wanted):
            raise _invalid(f"ofType() needs a type name ({path!r})")
        return [c for c in candidates if _has_type(c, wanted)]
    if not step.arg:
        raise _invalid(f"where() needs a criteria expression ({path!r})")
    kept: list[_Location] = []
    for candidate in candidates:
        base = _child_type(candidate.container_type, candidate.key)
        result = _evaluate(candidate.value, step.arg, root, base=base, raw=False)
        if result == [True]:
            kept.append(candidate)
    return kept


def _has_type(location: _Location, wanted: str) -> bool:
    value = location.value
    if isinstance(value, dict) and "resourceType" in value:
        return value["resourceType"] == wanted
    if location.key != location.base_name:  # a choice element: valueQuantity
        suffix = location.key[len(location.base_name) :]
        return suffix == wanted or suffix == wanted[:1].upper() + wanted[1:]
    return _child_type(location.container_type, location.key) == wanted


def _locate(root: dict[str, Any], path: str, where: str) -> list[_Location]:
    """Every element the FHIRPath ``path`` selects, as exact locations."""
    resource_type = str(root.get("resourceType", ""))
    try:
        selection = _split_selection(path, resource_type)
        parents = _containers(root, selection.parent, "The path")
        candidates: list[_Location] = []
        for container, type_key in parents:
            for key in _keys_for(container, type_key, selection.name):
                value = container[key]
                if isinstance(value, list):
                    candidates.extend(
                        _Location(container, key, i, type_key, selection.name)
                        for i in range(len(value))
                    )
                else:
                    candidates.append(_Location(container, key, None, type_key, selection.name))
        for step in selection.filters:
            candidates = _apply_filter(step, candidates, root, path)
    except FhirError as exc:
        raise _with_expression(exc, where) from None
    return candidates


def _with_expression(exc: FhirError, where: str) -> FhirError:
    if exc.issues and not exc.issues[0].expression:
        first = exc.issues[0]
        return FhirError.of(exc.status, first.error, first.diagnostics, where)
    return exc


def _single(locations: list[_Location], operation: _Operation) -> _Location:
    if not locations:
        raise _failed(f"No element matches {operation.path!r}", operation.where)
    if len(locations) > 1:
        raise _failed(
            f"{operation.path!r} matches {len(locations)} elements; {_a(operation.type)} needs "
            "exactly one",
            operation.where,
        )
    return locations[0]


def _collection(
    root: dict[str, Any], operation: _Operation
) -> tuple[dict[str, Any], str | None, str]:
    """The one container and element name of the list that ``insert``/``move`` address."""
    resource_type = str(root.get("resourceType", ""))
    try:
        selection = _split_selection(operation.path, resource_type)
        if selection.filters:
            raise _invalid(
                f"{_a(operation.type).capitalize()} path must name a list (e.g. "
                f"Patient.identifier), not select items of it: {operation.path!r}"
            )
        parents = _containers(root, selection.parent, "The path")
    except FhirError as exc:
        raise _with_expression(exc, operation.where) from None
    name = selection.name
    with_list = [(c, t) for c, t in parents if name in c]
    if len(with_list) == 1:
        container, type_key = with_list[0]
    elif not with_list and len(parents) == 1:
        container, type_key = parents[0]
    elif not parents:
        raise _failed(f"No element matches {selection.parent!r}", operation.where)
    else:
        raise _failed(
            f"{operation.path!r} addresses {len(parents)} lists; {_a(operation.type)} needs "
            "exactly one",
            operation.where,
        )
    return container, type_key, name


# --- companions and pruning -----------------------------------------------------------------


def _companion_list(container: dict[str, Any], key: str, length: int) -> list[Any] | None:
    companions = container.get("_" + key)
    if not isinstance(companions, list):
        return None
    companions.extend([None] * (length - len(companions)))
    return companions


def _tidy_companion(container: dict[str, Any], key: str) -> None:
    companions = container.get("_" + key)
    if isinstance(companions, list) and all(c is None for c in companions):
        del container["_" + key]


def _parent_chain(root: Any, target: dict[str, Any]) -> list[tuple[Any, Any]] | None:
    """``[(holder, key_or_index), ...]`` from ``root`` down to ``target`` (by identity)."""
    if root is target:
        return []
    items: list[tuple[Any, Any]]
    if isinstance(root, dict):
        items = list(root.items())
    elif isinstance(root, list):
        items = list(enumerate(root))
    else:
        return None
    for key, value in items:
        if isinstance(value, dict | list):
            chain = _parent_chain(value, target)
            if chain is not None:
                return [(root, key), *chain]
    return None


def _prune_empty(root: dict[str, Any], container: dict[str, Any]) -> None:
    """Remove ``container`` and then its ancestors while they are empty (never the root)."""
    chain = _parent_chain(root, container)
    if not chain:
        return
    node: Any = container
    for holder, key in reversed(chain):
        if node:  # not empty: stop
            return
        if isinstance(holder, list):
            del holder[key]
        else:
            del holder[key]
            holder.pop("_" + key, None)
        node = holder
    # holder chain reached the root; the root itself is never removed


# --- operations -----------------------------------------------------------------------------


def _do_add(root: dict[str, Any], operation: _Operation) -> None:
    assert operation.name is not None and operation.value is not None
    try:
        containers = _containers(root, operation.path, "The add path")
    except FhirError as exc:
        raise _with_expression(exc, operation.where) from None
    if not containers:
        raise _failed(f"No element matches {operation.path!r}", operation.where)
    if len(containers) > 1:
        raise _failed(
            f"{operation.path!r} matches {len(containers)} elements; an add needs exactly one",
            operation.where,
        )
    container, type_key = containers[0]
    name = operation.name
    value = operation.value
    if _is_choice(type_key, name):
        if value.kind != "typed":
            raise _invalid(
                f"{name!r} is a choice element: give its value as value[x]", operation.where
            )
        present = _keys_for(container, type_key, name)
        if present:
            raise _failed(
                f"{name}[x] already has a value ({present[0]}); use replace", operation.where
            )
        stored = name + (value.suffix or "")
    else:
        stored = name
    json_value, companion = _materialise(value, _child_type(type_key, stored), operation.where)
    existing = container.get(stored)
    if isinstance(existing, list):
        companions = _companion_list(container, stored, len(existing))
        existing.append(json_value)
        if companions is not None:
            companions.append(companion)
        elif companion is not None:
            container["_" + stored] = [None] * (len(existing) - 1) + [companion]
        return
    if stored in container:
        raise _failed(
            f"{stored!r} already exists and does not repeat; use replace", operation.where
        )
    repeating = is_repeating(f"{type_key}.{stored}") if type_key else None
    if repeating:
        container[stored] = [json_value]
        if companion is not None:
            container["_" + stored] = [companion]
    else:
        container[stored] = json_value
        if companion is not None:
            container["_" + stored] = companion


def _do_insert(root: dict[str, Any], operation: _Operation) -> None:
    assert operation.value is not None and operation.index is not None
    container, type_key, name = _collection(root, operation)
    json_value, companion = _materialise(
        operation.value, _child_type(type_key, name), operation.where
    )
    existing = container.get(name)
    index = operation.index
    if existing is None:
        if type_key is not None and is_repeating(f"{type_key}.{name}") is False:
            raise _failed(f"{name!r} does not repeat; cannot insert into it", operation.where)
        if index != 0:
            raise _failed(
                f"Index {index} is out of range: {operation.path!r} is empty", operation.where
            )
        container[name] = [json_value]
        if companion is not None:
            container["_" + name] = [companion]
        return
    if not isinstance(existing, list):
        raise _failed(f"{operation.path!r} is not a list", operation.where)
    if index > len(existing):
        raise _failed(
            f"Index {index} is out of range: {operation.path!r} has {len(existing)} items",
            operation.where,
        )
    companions = _companion_list(container, name, len(existing))
    existing.insert(index, json_value)
    if companions is not None:
        companions.insert(index, companion)
        _tidy_companion(container, name)
    elif companion is not None:
        created: list[Any] = [None] * len(existing)
        created[index] = companion
        container["_" + name] = created


def _do_move(root: dict[str, Any], operation: _Operation) -> None:
    assert operation.source is not None and operation.destination is not None
    container, _type_key, name = _collection(root, operation)
    existing = container.get(name)
    if not isinstance(existing, list):
        raise _failed(f"{operation.path!r} is not a list with items", operation.where)
    for label, index in (("source", operation.source), ("destination", operation.destination)):
        if index >= len(existing):
            raise _failed(
                f"{label} {index} is out of range: {operation.path!r} has {len(existing)} items",
                operation.where,
            )
    companions = _companion_list(container, name, len(existing))
    existing.insert(operation.destination, existing.pop(operation.source))
    if companions is not None:
        companions.insert(operation.destination, companions.pop(operation.source))


def _do_replace(root: dict[str, Any], operation: _Operation) -> None:
    assert operation.value is not None
    location = _single(_locate(root, operation.path, operation.where), operation)
    container, key = location.container, location.key
    value = operation.value
    if location.index is not None:
        json_value, companion = _materialise(
            value, _child_type(location.container_type, key), operation.where
        )
        items = container[key]
        items[location.index] = json_value
        companions = _companion_list(container, key, len(items))
        if companions is not None:
            companions[location.index] = companion
            _tidy_companion(container, key)
        elif companion is not None:
            created: list[Any] = [None] * len(items)
            created[location.index] = companion
            container["_" + key] = created
        return
    new_key = key
    if key != location.base_name:  # a choice element; the new value may change its type
        if value.kind != "typed":
            raise _invalid(
                f"{location.base_name}[x] is a choice element: give the value as value[x]",
                operation.where,
            )
        new_key = location.base_name + (value.suffix or "")
    json_value, companion = _materialise(
        value, _child_type(location.container_type, new_key), operation.where
    )
    if new_key == key:
        container[key] = json_value
    else:
        _rename_key(container, key, new_key, json_value)
    container.pop("_" + key, None)
    if companion is not None:
        container["_" + new_key] = companion


def _rename_key(container: dict[str, Any], old: str, new: str, value: Any) -> None:
    """Replace ``old`` by ``new`` keeping the member order."""
    items = [(new, value) if k == old else (k, v) for k, v in container.items()]
    container.clear()
    container.update(items)


def _do_delete(root: dict[str, Any], operation: _Operation) -> None:
    locations = _locate(root, operation.path, operation.where)
    if not locations:
        return
    if len(locations) > 1:
        raise _failed(
            f"{operation.path!r} matches {len(locations)} elements; only a single element "
            "can be deleted",
            operation.where,
        )
    location = locations[0]
    container, key = location.container, location.key
    if location.index is None:
        del container[key]
        container.pop("_" + key, None)
    else:
        items = container[key]
        companions = _companion_list(container, key, len(items))
        del items[location.index]
        if companions is not None:
            del companions[location.index]
            _tidy_companion(container, key)
        if not items:
            del container[key]
            container.pop("_" + key, None)
    if not container and container is not root:
        _prune_empty(root, container)


_HANDLERS = {
    "add": _do_add,
    "insert": _do_insert,
    "delete": _do_delete,
    "replace": _do_replace,
    "move": _do_move,
}


def apply_fhirpath_patch(resource: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Apply a FHIRPath Patch ``Parameters`` resource to ``resource``; return the new copy."""
    operations = _parse_operations(parameters)
    document = clone(resource)
    for operation in operations:
        _HANDLERS[operation.type](document, operation)
    return document
