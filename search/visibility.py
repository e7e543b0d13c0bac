"""What a caller may find: the :class:`~search.backend.Visibility` of a request context.

Public documents are for everyone, anonymous callers included. Private documents (those with
a ``patient_id``) follow the caller's SMART grant, read the way the FHIR access policy reads
it (``platform_core.auth.policy``), for the FHIR type behind each kind (``Patient`` for a
plugin's kinds that have none: a patient's private data is part of their record):

* internal callers see everything;
* a scope granting search (``s``) on the type opens: ``system/`` (backend clients, not users)
  every patient; ``patient/`` the launch patient; ``user/`` the user's patients
  (``grant.user_patients``: a guardian's children, a practitioner's patients; every patient
  for admins);
* v2 granular scopes (``patient/Patient.rs?gender=female``) open nothing here: their query
  cannot be checked against a search document, so they fail closed;
* a type a plugin narrows for this caller (``fhir_search_narrowing``) shows no private
  documents: the narrowing's query cannot be checked against a document either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from platform_core.auth.grants import Grant
from platform_core.fhir.context import RequestContext
from platform_core.web.api import grant_of
from search.backend import Visibility

PLUGIN_KIND_TYPE = "Patient"
"""The FHIR type whose scopes govern private documents of kinds without a FHIR type."""


def patients_reached(grant: Grant, resource_type: str) -> frozenset[str] | None:
    """Patients whose ``resource_type`` data the grant may search (None: every patient)."""
    reached: set[str] = set()
    for scope in grant.scopes.granting(resource_type, "s"):
        if scope.query:
            continue
        if scope.context == "system":
            if grant.user_id is None:
                return None
        elif scope.context == "patient":
            if grant.patient is not None:
                reached.add(grant.patient)
        elif grant.user_id is not None:
            if grant.user_patients is None:
                return None
            reached |= grant.user_patients
    return frozenset(reached)


def visibility_for(
    ctx: RequestContext | None, kind_types: Mapping[str, str | None], hooks: Any = None
) -> Visibility:
    """The visibility of ``ctx`` (None: an anonymous caller) over the kinds ``kind_types``
    (kind -> FHIR type or None). ``hooks``: the plugin hooks, for narrowing."""
    if ctx is None:
        return Visibility.public_only()
    if ctx.internal:
        return Visibility.all()
    grant = grant_of(ctx)
    if grant is None:
        return Visibility.public_only()
    private: dict[str, frozenset[str] | None] = {}
    for kind, resource_type in kind_types.items():
        rtype = resource_type or PLUGIN_KIND_TYPE
        if _narrowed(ctx, rtype, hooks):
            continue
        reached = patients_reached(grant, rtype)
        if reached is None or reached:
            private[kind] = reached
    return Visibility(private=private)


def _narrowed(ctx: RequestContext, resource_type: str, hooks: Any) -> bool:
    if hooks is None or not hooks.fhir_search_narrowing.get_hookimpls():
        return False
    # hook: fhir_search_narrowing
    return any(hooks.fhir_search_narrowing(ctx=ctx, resource_type=resource_type))
