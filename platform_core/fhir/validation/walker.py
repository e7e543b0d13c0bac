"""Walking a JSON resource against the compiled element model.

One pass over the parsed JSON checks, for every property: that it is a known element (or
the ``_name`` sibling of a primitive), its JSON type and emptiness, its cardinality, at most
one variant of each choice element, primitive syntax and required bindings; after each
object the required elements and the invariants of its type. Nested resources (contained,
Bundle.entry.resource, Parameters.parameter.resource ...) are walked against their own
``resourceType``. Issues are appended to a list that the caller owns; expressions are the
JSON path written as FHIRPath (``Patient.name[0].given[1]``).
"""

from __future__ import annotations

import difflib
from typing import Any

from platform_core.fhir import error_codes as ec
from platform_core.fhir.definitions import is_resource_type
from platform_core.fhir.errors import Issue, issue
from platform_core.fhir.validation.bindings import check_coded, code_issue
from platform_core.fhir.validation.contained import LocalRef, Scope, check_contained, check_scope
from platform_core.fhir.validation.primitives import describe
from platform_core.fhir.validation.schema import (
    COLLECT_REFERENCE,
    COMPLEX,
    PRIMITIVE,
    PROHIBITED,
    RESOURCE,
    Node,
    Spec,
    node_for,
    resolve,
)

_MISSING: Any = object()
_EXTENSION_KEYS = frozenset({"id", "extension"})


class Walk:
    """The state of one validation: the issues found and the current resource's scope."""

    __slots__ = ("issues", "scope")

    def __init__(self) -> None:
        self.issues: list[Issue] = []
        self.scope = Scope()


# --- resources --------------------------------------------------------------------------


def resource_node(resource: Any, expression: str, walk: Walk) -> Node | None:
    """The node of a (nested) resource's ``resourceType``, or None after reporting why."""
    if type(resource) is not dict:
        walk.issues.append(
            issue(
                ec.WRONG_JSON_TYPE,
                f"{expression}: expected a resource (a JSON object), got {describe(resource)}",
                expression,
            )
        )
        return None
    kind = resource.get("resourceType", _MISSING)
    if kind is _MISSING:
        walk.issues.append(
            issue(
                ec.MISSING_RESOURCE_TYPE,
                f"{expression}: a resource needs a 'resourceType' naming its type",
                expression,
            )
        )
        return None
    if type(kind) is not str or not is_resource_type(kind):
        walk.issues.append(
            issue(
                ec.UNKNOWN_RESOURCE_TYPE,
                f"{expression}.resourceType: {describe(kind)} is not a FHIR R4 resource type",
                f"{expression}.resourceType",
            )
        )
        return None
    return node_for(kind)


def walk_resource(resource: dict[str, Any], node: Node, expression: str, walk: Walk) -> None:
    """Walk a resource with its own scope for contained resources and local references."""
    outer = walk.scope
    walk.scope = Scope()
    walk_object(resource, node, expression, walk)
    check_scope(walk.scope, walk.issues)
    walk.scope = outer


def _nested_resource(item: Any, spec: Spec, expression: str, walk: Walk) -> None:
    node = resource_node(item, expression, walk)
    if node is None:
        return
    if not spec.contained:
        walk_resource(item, node, expression, walk)
        return
    scope = walk.scope
    check_contained(item, expression, walk.issues)
    outer = scope.current
    scope.current = len(scope.contained)
    scope.contained.append((item.get("id"), expression))
    walk_object(item, node, expression, walk)
    scope.current = outer


# --- objects ----------------------------------------------------------------------------


def walk_object(obj: dict[str, Any], node: Node, expression: str, walk: Walk) -> None:
    """Check the properties of one JSON object against ``node``."""
    specs = node.specs
    seen_choice: dict[str, str] | None = None
    for key, value in obj.items():
        spec = specs.get(key)
        if spec is None:
            spec = _sibling(obj, key, value, node, expression, walk)
            if spec is None or spec.choice is None:
                continue
            key = spec.name  # a lone '_valueX' counts as the choice being present
            value = _MISSING
        if spec.choice is not None:
            if seen_choice is None:
                seen_choice = {}
            first = seen_choice.setdefault(spec.choice, key)
            if first != key:
                _multiple_choice(spec, first, key, expression, walk)
            if value is _MISSING:
                continue
        kind = spec.kind
        if kind == PRIMITIVE:
            if spec.array:
                _primitive_array(obj, value, spec, expression, walk)
            elif value is None or type(value) is list:
                _bad_single(value, spec, f"{expression}.{key}", walk)
            else:
                problem = spec.check(value)
                if problem is not None:
                    where = f"{expression}.{key}"
                    walk.issues.append(issue(problem[0], f"{where}: {problem[1]}", where))
                elif spec.codes is not None and value not in spec.codes:
                    where = f"{expression}.{key}"
                    walk.issues.append(code_issue(value, spec.codes, spec.binding or "", where))
                elif spec.collect and value[:1] == "#":
                    _local_ref(value, spec, f"{expression}.{key}", walk)
        elif kind in (COMPLEX, RESOURCE):
            if spec.array:
                _complex_array(value, spec, f"{expression}.{key}", walk)
            elif type(value) is list:
                _not_an_array(spec, value, f"{expression}.{key}", walk)
            else:
                _complex_item(value, spec, f"{expression}.{key}", walk)
        else:
            _prohibited(spec, node, expression, walk)
    for label, keys in node.required:
        for key in keys:
            if key in obj:
                break
        else:
            _missing(node, label, keys, expression, walk)
    for check in node.invariants:
        check(obj, expression, walk.issues)


def _sibling(
    obj: dict[str, Any], key: str, value: Any, node: Node, expression: str, walk: Walk
) -> Spec | None:
    """Handle a key with no spec: a primitive's ``_name`` sibling or an unknown element.

    Returns the primitive's spec when the sibling belongs to a choice element and stands
    alone (so that the caller counts the choice as present); None otherwise.
    """
    if key[:1] == "_":
        spec = node.specs.get(key[1:])
        if spec is not None and spec.primitive:
            alone = spec.name not in obj
            if spec.kind == PROHIBITED:
                if alone:
                    _prohibited(spec, node, expression, walk)
            elif spec.array:
                if alone:
                    _primitive_array(obj, _MISSING, spec, expression, walk)
            else:
                has_value = not alone and obj[spec.name] is not None
                _primitive_extension(value, has_value, f"{expression}.{spec.name}", spec, walk)
            return spec if alone else None
        if spec is not None:
            where = f"{expression}.{key}"
            walk.issues.append(
                issue(
                    ec.UNKNOWN_ELEMENT,
                    f"{where}: '{key}' is not allowed: only primitive elements have a '_' "
                    f"sibling, and {spec.name} is a {spec.type_name}",
                    where,
                )
            )
            return None
    elif key == "resourceType" and node.is_resource:
        return None
    _unknown(key, node, expression, walk)
    return None


def _unknown(key: str, node: Node, expression: str, walk: Walk) -> None:
    where = f"{expression}.{key}"
    hint = ""
    for base, variants in node.choices.items():
        if key == base or (key.startswith(base) and key[len(base) : len(base) + 1].isupper()):
            shown = ", ".join(variants[:12]) + (" ..." if len(variants) > 12 else "")
            hint = f"; {base}[x] takes a type suffix, one of: {shown}"
            break
    else:
        names = [n for n in node.specs if not n.startswith("_")]
        close = difflib.get_close_matches(key.lstrip("_"), names, n=1)
        if close:
            hint = f"; did you mean '{close[0]}'?"
    walk.issues.append(
        issue(
            ec.UNKNOWN_ELEMENT,
            f"{where}: unknown element '{key}' in {_label(node)}{hint}",
            where,
        )
    )


def _label(node: Node) -> str:
    return node.key


def _multiple_choice(spec: Spec, first: str, key: str, expression: str, walk: Walk) -> None:
    where = f"{expression}.{key}"
    walk.issues.append(
        issue(
            ec.MULTIPLE_CHOICE,
            f"{where}: {spec.choice}[x] may appear only once, but both '{first}' and "
            f"'{key}' are present",
            where,
        )
    )


def _prohibited(spec: Spec, node: Node, expression: str, walk: Walk) -> None:
    where = f"{expression}.{spec.name}"
    rule = (
        " (sqty-1: the comparator is not used on a SimpleQuantity)"
        if (node.key == "SimpleQuantity")
        else ""
    )
    walk.issues.append(
        issue(
            ec.CARDINALITY_MAX,
            f"{where}: '{spec.name}' is not allowed in a {node.key}{rule}",
            where,
        )
    )


def _missing(node: Node, label: str, keys: tuple[str, ...], expression: str, walk: Walk) -> None:
    spec = node.specs[keys[0]]
    if spec.choice is not None:
        names = [k for k in keys if not k.startswith("_")]
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        where = f"{expression}.{spec.choice}"
        what = f"{spec.choice}[x] (one of {shown})"
    else:
        where = f"{expression}.{label}"
        what = f"'{label}'"
    walk.issues.append(
        issue(
            ec.CARDINALITY_MIN,
            f"{where}: a required element is missing: add {what} to {expression}",
            where,
        )
    )


def _not_an_array(spec: Spec, value: list[Any], where: str, walk: Walk) -> None:
    walk.issues.append(
        issue(
            ec.WRONG_JSON_TYPE,
            f"{where}: '{spec.name}' holds a single value (max cardinality 1), so it must not "
            f"be a JSON array; got {describe(value)}",
            where,
        )
    )


def _expected_array(spec: Spec, value: Any, where: str, walk: Walk) -> None:
    walk.issues.append(
        issue(
            ec.WRONG_JSON_TYPE,
            f"{where}: '{spec.name}' repeats (max cardinality *), so it must be a JSON array, "
            f"even for one value; got {describe(value)}",
            where,
        )
    )


def _empty(where: str, what: str, walk: Walk) -> None:
    walk.issues.append(
        issue(
            ec.EMPTY_VALUE,
            f"{where}: {what} are not allowed in FHIR JSON (ele-1); leave the element out",
            where,
        )
    )


def _null(where: str, walk: Walk, note: str = "") -> None:
    walk.issues.append(
        issue(
            ec.NULL_VALUE, f"{where}: null is not allowed here; leave the element out{note}", where
        )
    )


def _cardinality(spec: Spec, count: int, where: str, walk: Walk) -> None:
    if spec.max > 0 and count > spec.max:
        walk.issues.append(
            issue(
                ec.CARDINALITY_MAX,
                f"{where}: at most {spec.max} value(s) allowed, got {count}",
                where,
            )
        )
    if count < spec.min:
        walk.issues.append(
            issue(
                ec.CARDINALITY_MIN,
                f"{where}: at least {spec.min} value(s) required, got {count}",
                where,
            )
        )


# --- complex elements -------------------------------------------------------------------


def _complex_array(value: Any, spec: Spec, where: str, walk: Walk) -> None:
    if type(value) is not list:
        if value is None:
            _null(where, walk)
        else:
            _expected_array(spec, value, where, walk)
        return
    if not value:
        _empty(where, "empty arrays", walk)
        return
    if spec.max > 0 or spec.min > 1:
        _cardinality(spec, len(value), where, walk)
    for index, item in enumerate(value):
        _complex_item(item, spec, f"{where}[{index}]", walk)


def _complex_item(item: Any, spec: Spec, where: str, walk: Walk) -> None:
    if type(item) is not dict:
        if item is None:
            _null(where, walk)
        else:
            noun = "a resource" if spec.kind == RESOURCE else f"a {spec.type_name}"
            walk.issues.append(
                issue(
                    ec.WRONG_JSON_TYPE,
                    f"{where}: expected a JSON object ({noun}), got {describe(item)}",
                    where,
                )
            )
        return
    if not item:
        _empty(where, "empty objects", walk)
        return
    if spec.kind == RESOURCE:
        _nested_resource(item, spec, where, walk)
        return
    if len(item) == 1 and "id" in item:
        walk.issues.append(
            issue(
                ec.EMPTY_VALUE,
                f"{where}: an element with only an id is empty (ele-1: all elements must "
                "have a value or children)",
                where,
            )
        )
    walk_object(item, resolve(spec), where, walk)
    if spec.systems is not None and spec.binding is not None:
        check_coded(spec.type_name, item, spec.systems, spec.binding, where, walk.issues)


# --- primitive elements -----------------------------------------------------------------


def _primitive_value(value: Any, spec: Spec, where: str, walk: Walk) -> None:
    """Check one non-null primitive value (type, syntax, binding, local references)."""
    problem = spec.check(value)
    if problem is not None:
        walk.issues.append(issue(problem[0], f"{where}: {problem[1]}", where))
        return
    codes = spec.codes
    if codes is not None and value not in codes:
        walk.issues.append(code_issue(value, codes, spec.binding or "", where))
    if spec.collect and value[:1] == "#":
        _local_ref(value, spec, where, walk)


def _local_ref(value: str, spec: Spec, where: str, walk: Walk) -> None:
    scope = walk.scope
    scope.refs.append(LocalRef(value, where, spec.collect == COLLECT_REFERENCE, scope.current))


def _bad_single(value: Any, spec: Spec, where: str, walk: Walk) -> None:
    if value is None:
        _null(where, walk)
    else:
        _not_an_array(spec, value, where, walk)


def _primitive_extension(ext: Any, has_value: bool, where: str, spec: Spec, walk: Walk) -> None:
    """The ``_name`` object of a primitive: only id and extension, never empty."""
    sibling = f"{where[: where.rfind('.') + 1]}_{where[where.rfind('.') + 1 :]}"
    if type(ext) is not dict:
        if ext is None:
            _null(sibling, walk)
        elif type(ext) is list:
            _not_an_array(spec, ext, sibling, walk)
        else:
            walk.issues.append(
                issue(
                    ec.WRONG_JSON_TYPE,
                    f"{sibling}: expected a JSON object holding id and/or extension, "
                    f"got {describe(ext)}",
                    sibling,
                )
            )
        return
    if not ext:
        _empty(sibling, "empty objects", walk)
        return
    for key in ext:
        if key not in _EXTENSION_KEYS:
            walk.issues.append(
                issue(
                    ec.UNKNOWN_ELEMENT,
                    f"{sibling}.{key}: the '_{spec.name}' object of a primitive may only hold "
                    f"'id' and 'extension', not '{key}'",
                    f"{where}.{key}",
                )
            )
    if not has_value and "extension" not in ext:
        walk.issues.append(
            issue(
                ec.EMPTY_VALUE,
                f"{where}: has neither a value nor extensions (ele-1)",
                where,
            )
        )
    walk_object(
        {k: v for k, v in ext.items() if k in _EXTENSION_KEYS}, _element_node(), where, walk
    )


def _element_node() -> Node:
    return node_for("Element")


def _primitive_array(
    obj: dict[str, Any], value: Any, spec: Spec, expression: str, walk: Walk
) -> None:
    where = f"{expression}.{spec.name}"
    sibling = f"{expression}._{spec.name}"
    ext = obj.get(spec.ext_key, _MISSING)
    values: list[Any] = []
    exts: list[Any] = []
    if value is not _MISSING:
        if type(value) is not list:
            if value is None:
                _null(where, walk)
            else:
                _expected_array(spec, value, where, walk)
        elif not value:
            _empty(where, "empty arrays", walk)
        else:
            values = value
    if ext is not _MISSING:
        if type(ext) is not list:
            if ext is None:
                _null(sibling, walk)
            else:
                _expected_array(spec, ext, sibling, walk)
        elif not ext:
            _empty(sibling, "empty arrays", walk)
        else:
            exts = ext
    if values and exts and len(values) != len(exts):
        walk.issues.append(
            issue(
                ec.PRIMITIVE_EXTENSION_MISMATCH,
                f"{where}: '{spec.name}' has {len(values)} item(s) but '_{spec.name}' has "
                f"{len(exts)}; the two arrays must have the same length, with null where one "
                "side has nothing",
                where,
            )
        )
    count = max(len(values), len(exts))
    if count and (spec.max > 0 or spec.min > 1):
        _cardinality(spec, count, where, walk)
    for index in range(count):
        item = values[index] if index < len(values) else None
        item_ext = exts[index] if index < len(exts) else None
        item_where = f"{where}[{index}]"
        if item is None and item_ext is None:
            note = (
                " (null may only stand where the other array has an entry)"
                if values and exts
                else ""
            )
            _null(item_where if values else f"{sibling}[{index}]", walk, note)
            continue
        if item is not None:
            if type(item) is list:
                _not_an_array(spec, item, item_where, walk)
            else:
                _primitive_value(item, spec, item_where, walk)
        if item_ext is not None:
            _primitive_extension(item_ext, item is not None, item_where, spec, walk)
