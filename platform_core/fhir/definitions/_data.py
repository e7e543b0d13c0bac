"""Reading the generated definition files that ship inside this package.

The files are produced by ``tools/build_definitions.py`` (see ``PROVENANCE.md``). Each is
parsed once, on first use, and kept for the life of the process: callers must treat what
these functions return as read-only.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


def _read_json(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_bytes())


@functools.cache
def elements_document() -> dict[str, Any]:
    """``elements.json``: element model, primitive types and invariant texts."""
    return _read_json("elements.json")


@functools.cache
def valuesets_document() -> dict[str, Any]:
    """``valuesets.json``: expansions of the value sets of required bindings."""
    return _read_json("valuesets.json")


@functools.cache
def search_parameters_bundle() -> dict[str, Any]:
    """``search-parameters.json``: HL7's R4 SearchParameter Bundle."""
    return _read_json("search-parameters.json")


@functools.cache
def patient_compartment_document() -> dict[str, Any]:
    """``compartmentdefinition-patient.json``: the Patient CompartmentDefinition."""
    return compartment_document("Patient")


@functools.cache
def compartment_document(code: str) -> dict[str, Any]:
    """``compartmentdefinition-<code>.json``: the CompartmentDefinition of ``code``
    (``Patient``, ``Encounter``, ``Practitioner``, ``RelatedPerson`` or ``Device``)."""
    return _read_json(f"compartmentdefinition-{code.lower()}.json")
