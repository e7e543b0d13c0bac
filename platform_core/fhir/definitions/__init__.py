"""The official FHIR R4 (4.0.1) definitions, shipped as package data.

HL7's definition files are large (over 100 MB); the server needs only a digest of them:
the element model of each resource type and datatype, the codes of required bindings, the
search parameters and the five compartments (Patient, Encounter, Practitioner, RelatedPerson,
Device). ``tools/build_definitions.py`` produces that digest (see ``PROVENANCE.md`` in this
folder). Everything here loads lazily on first use and is cached; returned objects are shared
and must not be modified.
"""

from __future__ import annotations

import functools
from typing import Any

from platform_core.fhir.definitions._data import (
    compartment_document,
    patient_compartment_document,
    search_parameters_bundle,
)
from platform_core.fhir.definitions.model import (
    UNBOUNDED,
    ElementDef,
    Invariant,
    PrimitiveType,
    TypeModel,
    complex_types,
    element_model,
    invariants,
    primitive_types,
    resource_types,
    type_names,
)
from platform_core.fhir.definitions.terminology import (
    not_checkable_value_sets,
    required_value_sets,
    value_set_code_values,
    value_set_codes,
    value_set_systems,
)

FHIR_VERSION = "4.0.1"
COMPARTMENTS = ("Device", "Encounter", "Patient", "Practitioner", "RelatedPerson")
"""The compartments R4 defines (each has a CompartmentDefinition shipped here)."""

__all__ = [
    "COMPARTMENTS",
    "FHIR_VERSION",
    "UNBOUNDED",
    "ElementDef",
    "Invariant",
    "PrimitiveType",
    "TypeModel",
    "compartment_definition",
    "complex_types",
    "element_model",
    "invariants",
    "is_resource_type",
    "not_checkable_value_sets",
    "patient_compartment",
    "primitive_types",
    "required_value_sets",
    "resource_types",
    "search_parameters",
    "type_names",
    "value_set_code_values",
    "value_set_codes",
    "value_set_systems",
]


def is_resource_type(name: str) -> bool:
    """True if ``name`` is a concrete R4 resource type (``Patient``, not ``Resource``)."""
    return name in resource_types()


@functools.cache
def search_parameters() -> list[dict[str, Any]]:
    """HL7's R4 SearchParameter resources (shared: do not modify)."""
    return [entry["resource"] for entry in search_parameters_bundle()["entry"]]


def patient_compartment() -> dict[str, Any]:
    """The R4 CompartmentDefinition of the Patient compartment (shared: do not modify)."""
    return patient_compartment_document()


def compartment_definition(code: str) -> dict[str, Any]:
    """The R4 CompartmentDefinition of compartment ``code`` (one of :data:`COMPARTMENTS`;
    shared: do not modify)."""
    if code not in COMPARTMENTS:
        raise KeyError(code)
    return compartment_document(code)
