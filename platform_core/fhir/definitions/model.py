"""The element model of the R4 resource types and datatypes, as typed read-only records.

``elements.json`` holds, per type, the flattened element tree of its StructureDefinition
(paths relative to the type, e.g. ``contact.name`` in Patient): allowed types (for choice
elements ``value[x]`` every allowed type), cardinality, whether the JSON form is an array,
whether the element is a primitive, the value set of a required binding and, for elements
defined by reference (``Questionnaire.item.item``), the path they reuse.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from platform_core.fhir.definitions._data import elements_document

UNBOUNDED = -1
"""``max`` of an element whose maximum cardinality is ``*``."""


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a type, e.g. ``name`` or ``contact.telecom`` of Patient."""

    path: str
    types: tuple[str, ...]
    min: int
    max: int
    array: bool
    primitive: bool
    binding: str | None
    content_ref: str | None

    @property
    def name(self) -> str:
        """The last path segment (``value[x]`` for choice elements)."""
        return self.path.rpartition(".")[2]

    @property
    def is_choice(self) -> bool:
        """True for ``[x]`` elements, which appear in JSON as ``name`` + type suffix."""
        return self.path.endswith("[x]")


@dataclass(frozen=True, slots=True)
class TypeModel:
    """A resource type or complex datatype with its elements."""

    name: str
    kind: str
    abstract: bool
    base: str | None
    constrains: str | None
    elements: tuple[ElementDef, ...]

    def element(self, path: str) -> ElementDef | None:
        """The element at ``path`` (relative to the type), or None."""
        return _element_index(self.name).get(path)


@dataclass(frozen=True, slots=True)
class PrimitiveType:
    """A primitive datatype and the regex of its value (XML Schema regex syntax)."""

    name: str
    regex: str | None
    max_length: int | None


@dataclass(frozen=True, slots=True)
class Invariant:
    """The text of a constraint of the specification."""

    key: str
    context: str
    severity: str
    human: str
    expression: str


def _row_to_element(columns: list[str], row: list[Any]) -> ElementDef:
    record = dict(zip(columns, row, strict=True))
    max_text = str(record["max"])
    return ElementDef(
        path=record["path"],
        types=tuple(record["types"]),
        min=int(record["min"]),
        max=UNBOUNDED if max_text == "*" else int(max_text),
        array=bool(record["array"]),
        primitive=bool(record["primitive"]),
        binding=record["binding"],
        content_ref=record["contentRef"],
    )


@functools.cache
def element_model(type_name: str) -> TypeModel:
    """The model of a resource type or complex datatype; KeyError if there is none."""
    document = elements_document()
    raw = document["types"][type_name]
    columns = document["columns"]
    return TypeModel(
        name=type_name,
        kind=raw["kind"],
        abstract=raw["abstract"],
        base=raw["base"],
        constrains=raw.get("constrains"),
        elements=tuple(_row_to_element(columns, row) for row in raw["elements"]),
    )


@functools.cache
def _element_index(type_name: str) -> dict[str, ElementDef]:
    return {e.path: e for e in element_model(type_name).elements}


@functools.cache
def type_names() -> frozenset[str]:
    """Every type with an element model (resources, abstract bases, complex datatypes)."""
    return frozenset(elements_document()["types"])


@functools.cache
def resource_types() -> frozenset[str]:
    """All concrete R4 resource types (without the abstract Resource and DomainResource)."""
    return frozenset(
        name
        for name, raw in elements_document()["types"].items()
        if raw["kind"] == "resource" and not raw["abstract"]
    )


@functools.cache
def complex_types() -> frozenset[str]:
    """The complex datatypes, including the profile SimpleQuantity."""
    return frozenset(
        name for name, raw in elements_document()["types"].items() if raw["kind"] == "complex-type"
    )


@functools.cache
def primitive_types() -> dict[str, PrimitiveType]:
    """The primitive datatypes by name."""
    return {
        name: PrimitiveType(name, info.get("regex"), info.get("maxLength"))
        for name, info in elements_document()["primitives"].items()
    }


@functools.cache
def invariants() -> dict[str, Invariant]:
    """The texts of the invariants the validator enforces, by key."""
    return {
        key: Invariant(key, v["context"], v["severity"], v["human"], v["expression"])
        for key, v in elements_document()["invariants"].items()
    }
