"""The Patient compartment (R4 CompartmentDefinition ``patient``): which resources belong to a
patient, through which reference parameters.

Used by compartment search (``GET /fhir/Patient/123/Observation``, ``.../Patient/123/*``),
``Patient/$everything``, and by the access policy of patient-scoped tokens. Only the Patient
compartment is shipped: it is the only CompartmentDefinition in the definition package used
(see ``definitions/PROVENANCE.md``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
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


def membership_clause(
    res: Any, resource_types: Sequence[str], patient_ids: str | Collection[str]
) -> Any:
    """Resources of ``resource_types`` that are in the compartment of ``Patient/<id>`` for
    one of ``patient_ids`` (the Patient itself included)."""
    ids = [patient_ids] if isinstance(patient_ids, str) else sorted(patient_ids)
    if not ids:
        return sa.false()
    x = INDEX_TABLES["reference"].alias()
    pairs = [(t, p) for t in resource_types for p in members().get(t, ())]
    ors = []
    target = x.c.target_id == ids[0] if len(ids) == 1 else x.c.target_id.in_(ids)
    if pairs:
        linked = sa.select(x.c.rid).where(
            x.c.target_type == "Patient",
            target,
            sa.or_(*(sa.and_(x.c.resource_type == t, x.c.param == p) for t, p in pairs)),
        )
        ors.append(res.c.rid.in_(linked))
    if "Patient" in resource_types:
        own = res.c.id == ids[0] if len(ids) == 1 else res.c.id.in_(ids)
        ors.append(sa.and_(res.c.resource_type == "Patient", own))
    return sa.or_(*ors) if ors else sa.false()
