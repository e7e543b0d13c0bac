"""The element model compiled into lookup tables for fast validation.

Validation runs on every write, so the walker must not interpret StructureDefinitions. This
module turns the element model of :mod:`platform_core.fhir.definitions` into one
:class:`Node` per object shape (a resource type, a datatype, or a backbone element such as
``Patient.contact``), each a dict from JSON property name to :class:`Spec`. Choice elements
are expanded (``value[x]`` -> ``valueQuantity``, ``valueString`` ...), the primitive check
and the required-binding codes are attached to each property. Nodes are compiled per type on
first use and kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from platform_core.fhir import definitions as defs
from platform_core.fhir.definitions import ElementDef
from platform_core.fhir.validation.invariants import node_invariants
from platform_core.fhir.validation.primitives import PrimitiveCheck, primitive_check

PRIMITIVE = 0
COMPLEX = 1
RESOURCE = 2
PROHIBITED = 3  # max cardinality 0 (SimpleQuantity.comparator)

# Collect values that may be local references ("#id") for dom-3 / ref-1.
COLLECT_NONE = 0
COLLECT_URI = 1
COLLECT_REFERENCE = 2

_URI_TYPES = frozenset({"uri", "url", "canonical"})
_INLINE_TYPES = frozenset({"BackboneElement", "Element"})
_CODED_TYPES = frozenset({"Coding", "CodeableConcept"})

Invariant = Callable[[dict[str, Any], str, list[Any]], None]


class Spec:
    """How one JSON property of an object is validated."""

    __slots__ = (
        "array",
        "binding",
        "check",
        "choice",
        "codes",
        "collect",
        "contained",
        "ext_key",
        "kind",
        "max",
        "min",
        "name",
        "node",
        "node_key",
        "primitive",
        "systems",
        "type_name",
    )

    def __init__(self, name: str, type_name: str, element: ElementDef, owner: str) -> None:
        self.name = name
        self.ext_key = "_" + name
        self.type_name = type_name
        self.array = element.array
        self.min = element.min
        self.max = element.max
        self.choice: str | None = element.name[:-3] if element.is_choice else None
        self.binding = element.binding
        self.codes: frozenset[str] | None = None
        self.systems: dict[str, frozenset[str]] | None = None
        self.check: PrimitiveCheck | None = None
        self.node: Node | None = None
        self.node_key: str | None = None
        self.collect = COLLECT_NONE
        self.contained = False
        self.primitive = type_name in defs.primitive_types()
        if element.content_ref is not None:
            self.kind = COMPLEX
            self.node_key = element.content_ref
        elif self.primitive:
            self.kind = PRIMITIVE
            self.check = primitive_check(type_name)
            if element.binding:
                self.codes = defs.value_set_code_values(element.binding)
            if type_name in _URI_TYPES:
                self.collect = COLLECT_URI
        elif type_name == "Resource":
            self.kind = RESOURCE
        else:
            self.kind = COMPLEX
            self.node_key = f"{owner}.{element.path}" if type_name in _INLINE_TYPES else type_name
            if element.binding and type_name in _CODED_TYPES:
                self.systems = defs.value_set_systems(element.binding)
        if element.max == 0:
            self.kind = PROHIBITED

    @property
    def label(self) -> str:
        """The element name as the specification writes it (``value[x]`` for choices)."""
        return f"{self.choice}[x]" if self.choice is not None else self.name


class Node:
    """The allowed properties of one kind of JSON object."""

    __slots__ = ("choices", "invariants", "is_resource", "key", "required", "specs")

    def __init__(self, key: str, is_resource: bool) -> None:
        self.key = key
        self.is_resource = is_resource
        self.specs: dict[str, Spec] = {}
        self.required: list[tuple[str, tuple[str, ...]]] = []
        self.choices: dict[str, list[str]] = {}
        self.invariants: tuple[Invariant, ...] = node_invariants(key)


def choice_suffix(type_name: str) -> str:
    """The JSON suffix of a choice type: ``valueQuantity`` for Quantity/SimpleQuantity."""
    model_type = type_name
    if type_name in defs.complex_types():
        model_type = defs.element_model(type_name).constrains or type_name
    return model_type[0].upper() + model_type[1:]


_NODES: dict[str, Node] = {}


def node_for(key: str) -> Node:
    """The node of a type name or backbone path (``Patient``, ``Patient.contact``)."""
    node = _NODES.get(key)
    if node is None:
        _compile_type(key.partition(".")[0])
        node = _NODES[key]
    return node


def resolve(spec: Spec) -> Node:
    """The node that the objects of a complex property are checked against."""
    node = spec.node
    if node is None:
        node = spec.node = node_for(spec.node_key or spec.type_name)
    return node


def _compile_type(type_name: str) -> None:
    model = defs.element_model(type_name)
    is_resource = model.kind == "resource"
    nodes: dict[str, Node] = {type_name: Node(type_name, is_resource)}
    for element in model.elements:
        parent, _, _ = element.path.rpartition(".")
        node_key = f"{type_name}.{parent}" if parent else type_name
        if element.types and element.types[0] in _INLINE_TYPES and element.content_ref is None:
            own_key = f"{type_name}.{element.path}"
            nodes[own_key] = Node(own_key, False)
        node = nodes[node_key]
        _add_element(node, element, type_name, is_resource and not parent)
    _NODES.update(nodes)


def _add_element(node: Node, element: ElementDef, owner: str, at_resource_root: bool) -> None:
    if element.is_choice:
        base = element.name[:-3]
        names = [(base + choice_suffix(t), t) for t in element.types]
        node.choices[base] = [name for name, _ in names]
    else:
        type_name = element.types[0] if element.types else ""
        names = [(element.name, type_name)]
    keys: list[str] = []
    for name, type_name in names:
        spec = Spec(name, type_name, element, owner)
        if owner == "Reference" and name == "reference":
            spec.collect = COLLECT_REFERENCE
        if at_resource_root and name == "contained":
            spec.contained = True
        node.specs[name] = spec
        keys.append(name)
        if spec.kind == PRIMITIVE:
            keys.append(spec.ext_key)
    if element.min > 0:
        label = element.name
        node.required.append((label, tuple(keys)))
