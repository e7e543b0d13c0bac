"""Compartments (R4 CompartmentDefinitions ``patient``, ``encounter``, ``practitioner``,
``relatedPerson`` and ``device``): which resources belong to a compartment, through which
reference parameters.

Used by compartment search (``GET /fhir/Patient/123/Observation``, ``.../Encounter/7/*``),
``Patient/$everything``, and (the Patient compartment) by the access policy of patient-scoped
tokens. The definitions are HL7's, shipped in ``platform_core/fhir/definitions`` (see its
``PROVENANCE.md``).

A resource is in the compartment of ``Type/id`` when one of its compartment parameters refers
to ``Type/id`` (the reference index answers that); the owner itself is in it when the definition
lists it with ``{def}``, and a Patient is always in its own compartment (as R4's compartment
page says, though the Patient definition lists only ``link``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa

from platform_core.db.aliases import alias
from platform_core.db.schema import INDEX_TABLES
from platform_core.fhir import definitions

SUPPORTED_COMPARTMENTS = frozenset(definitions.COMPARTMENTS)


@cache
def members(compartment: str = "Patient") -> dict[str, tuple[str, ...]]:
    """Resource type -> the parameters that put it in ``compartment`` (types with no
    parameter, and the ``{def}`` entry of the owner, are left out)."""
    if compartment not in SUPPORTED_COMPARTMENTS:
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for entry in definitions.compartment_definition(compartment).get("resource", []):
        params = tuple(p for p in entry.get("param", []) if p != "{def}")
        if params:
            result[entry["code"]] = params
    return result


@cache
def owner_included(compartment: str) -> bool:
    """Whether the owner (``Encounter/7`` of the Encounter compartment) is itself a member."""
    if compartment == "Patient":
        return True
    return any(
        entry["code"] == compartment and "{def}" in entry.get("param", [])
        for entry in definitions.compartment_definition(compartment).get("resource", [])
    )


@cache
def member_types(compartment: str) -> tuple[str, ...]:
    """Every resource type that can be in ``compartment`` (for ``[Compartment]/[id]/*``)."""
    types = set(members(compartment))
    if owner_included(compartment):
        types.add(compartment)
    return tuple(sorted(types))


def membership_clause(
    res: Any,
    resource_types: Sequence[str],
    owner_ids: str | Collection[str],
    compartment: str = "Patient",
) -> Any:
    """Resources of ``resource_types`` that are in the compartment of ``<compartment>/<id>``
    for one of ``owner_ids`` (the owner itself included when it is a member)."""
    ids = [owner_ids] if isinstance(owner_ids, str) else sorted(owner_ids)
    if not ids:
        return sa.false()
    x = alias(INDEX_TABLES["reference"])
    pairs = [(t, p) for t in resource_types for p in members(compartment).get(t, ())]
    ors = []
    target = x.c.target_id == ids[0] if len(ids) == 1 else x.c.target_id.in_(ids)
    if pairs:
        linked = sa.select(x.c.rid).where(
            x.c.target_type == compartment,
            target,
            sa.or_(*(sa.and_(x.c.resource_type == t, x.c.param == p) for t, p in pairs)),
        )
        ors.append(res.c.rid.in_(linked))
    if compartment in resource_types and owner_included(compartment):
        own = res.c.id == ids[0] if len(ids) == 1 else res.c.id.in_(ids)
        ors.append(sa.and_(res.c.resource_type == compartment, own))
    return sa.or_(*ors) if ors else sa.false()
