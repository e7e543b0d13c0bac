"""The Patient compartment (R4 CompartmentDefinition ``patient``): which resources belong to a
patient, through which reference parameters.

Used by compartment search (``GET /fhir/Patient/123/Observation``, ``.../Patient/123/*``),
``Patient/$everything``, and by the access policy of patient-scoped tokens. Only the Patient
compartment is shipped: it is the only CompartmentDefinition in the definition package used
(see ``definitions/PROVENANCE.md``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa

from platform_core.db.schema import INDEX_TABLES
from platform_core.fhir import definitions

SUPPORTED_COMPARTMENTS = frozenset({"Patient"})


@cache
def members(compartment: str = "Patient") -> dict[str, tuple[str, ...]]:
    """Resource type -> the parameters that put it in the compartment (``{"*"}`` types with
    no parameter are left out: they are never in it)."""
    if compartment != "Patient":
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for entry in definitions.patient_compartment().get("resource", []):
        params = tuple(p for p in entry.get("param", []) if p != "{def}")
        if params:
            result[entry["code"]] = params
    return result


def membership_clause(res: Any, resource_types: list[str], patient_id: str) -> Any:
    """Resources of ``resource_types`` that are in ``Patient/patient_id``'s compartment
    (the Patient itself included)."""
    x = INDEX_TABLES["reference"].alias()
    pairs = [(t, p) for t in resource_types for p in members().get(t, ())]
    ors = []
    if pairs:
        linked = sa.select(x.c.rid).where(
            x.c.target_type == "Patient",
            x.c.target_id == patient_id,
            sa.or_(*(sa.and_(x.c.resource_type == t, x.c.param == p) for t, p in pairs)),
        )
        ors.append(res.c.rid.in_(linked))
    if "Patient" in resource_types:
        ors.append(sa.and_(res.c.resource_type == "Patient", res.c.id == patient_id))
    return sa.or_(*ors) if ors else sa.false()
