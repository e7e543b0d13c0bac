"""The SMART access policy: scopes, roles and compartments, enforced inside the repository.

For each interaction the policy finds the token's scopes that grant the needed permission on
the resource type (403 when none does) and turns each into a *rule*: which patients it
reaches (``patient/``: the launch patient; ``user/``: the patients the user may act for, or
all for an admin; ``system/``: all) and, for a v2 granular scope, which search it must match.
The rules become one SQL condition (:class:`ScopeFilter`) that the repository puts inside
every query, so nothing out of reach is ever read, counted or included.

Resource types outside the Patient compartment (Practitioner, Medication, Schedule...) hold
no patient's data: ``patient/`` and ``user/`` scopes may read them, and staff users may write
them. Audit records are written only by the server and read only by admins and
``system/`` clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from platform_core.auth.grants import ADMIN_ROLES, STAFF_ROLES, Grant
from platform_core.auth.scopes import INTERACTION_PERMISSION, ResourceScope
from platform_core.db.schema import INDEX_TABLES
from platform_core.fhir import error_codes
from platform_core.fhir.access import AccessFilter
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.search.clauses import criterion_clause
from platform_core.fhir.search.compartment import members, membership_clause
from platform_core.fhir.search.model import Criterion

log = logging.getLogger(__name__)

SERVER_WRITTEN = frozenset({"AuditEvent"})
"""Types only the server writes; over the API they are read-only (and admin-only)."""

CriteriaParser = Callable[[str, list[tuple[str, str]]], list[Criterion]]


def unauthenticated(reason: str | None) -> FhirError:
    """401 with the ``WWW-Authenticate`` challenge of RFC 6750."""
    challenge = 'Bearer realm="fireside"'
    if reason:
        challenge += f', error="invalid_token", error_description="{reason}"'
    message = (
        f"A valid access token is required: {reason}"
        if reason
        else ("A valid access token is required (Authorization: Bearer ...)")
    )
    return FhirError.of(
        401, error_codes.UNAUTHENTICATED, message, headers={"WWW-Authenticate": challenge}
    )


@dataclass(frozen=True)
class Rule:
    """What one scope reaches for one interaction."""

    resource_type: str
    patients: frozenset[str] | None
    """None: every patient."""
    criteria: tuple[Criterion, ...] = ()
    outside_compartment: bool = True
    """Whether resources of types outside the Patient compartment are reached."""

    @property
    def unrestricted(self) -> bool:
        return self.patients is None and not self.criteria


@dataclass(frozen=True)
class ScopeFilter:
    """The union of a token's rules for one interaction, as SQL."""

    rules: tuple[Rule, ...]
    base_url: str

    def clause(self, res: Any, resource_types: Sequence[str]) -> Any:
        compartment = members()
        ors = []
        for rule in self.rules:
            types = [t for t in resource_types if rule.resource_type in ("*", t)]
            if not types:
                continue
            if rule.patients is None:
                reach = res.c.resource_type.in_(types)
            else:
                inside = [t for t in types if t in compartment or t == "Patient"]
                outside = [t for t in types if t not in inside]
                parts = [membership_clause(res, inside, rule.patients)] if inside else []
                if outside and rule.outside_compartment:
                    parts.append(res.c.resource_type.in_(outside))
                if not parts:
                    continue
                reach = sa.or_(*parts)
            if rule.criteria:
                reach = sa.and_(
                    reach,
                    res.c.resource_type == rule.resource_type,
                    *(
                        criterion_clause(c, rule.resource_type, self.base_url, res)
                        for c in rule.criteria
                    ),
                )
            ors.append(reach)
        return sa.or_(*ors) if ors else sa.false()

    def reaches_one(
        self, conn: sa.Connection, resource_type: str, resource_id: str, rid: int
    ) -> bool | None:
        """The fast check for one resource (see :func:`reaches_one`)."""
        return reaches_one(self, conn, resource_type, resource_id, rid)


_IX_REF = INDEX_TABLES["reference"]
_IN_COMPARTMENT = (
    sa.select(_IX_REF.c.rid)
    .where(
        _IX_REF.c.rid == sa.bindparam("rid"),
        _IX_REF.c.target_type == "Patient",
        _IX_REF.c.target_id.in_(sa.bindparam("patients", expanding=True)),
        _IX_REF.c.param.in_(sa.bindparam("params", expanding=True)),
    )
    .limit(1)
)
"""Whether one resource refers to one of the patients through a compartment parameter: the
read-by-id check, built once (building the general clause per read cost ~0.8 ms)."""


def reaches_one(
    access: ScopeFilter, conn: sa.Connection, resource_type: str, resource_id: str, rid: int
) -> bool | None:
    """Whether one resource is in reach, answered without the general clause when every rule
    is a plain compartment rule; None when the general clause must decide."""
    if any(rule.criteria for rule in access.rules):
        return None
    params = members().get(resource_type, ())
    patients: set[str] = set()
    for rule in access.rules:
        if rule.resource_type not in ("*", resource_type):
            continue
        if rule.patients is None:
            return True
        if resource_type == "Patient" and resource_id in rule.patients:
            return True
        if resource_type != "Patient" and not params:
            if rule.outside_compartment:
                return True
            continue
        patients |= rule.patients
    if not patients or not params:
        return False
    found = conn.execute(
        _IN_COMPARTMENT, {"rid": rid, "patients": sorted(patients), "params": list(params)}
    ).first()
    return found is not None


class SmartPolicy:
    """Enforces the caller's SMART grant (see the module docstring)."""

    def __init__(self, base_url: str, parse_criteria: CriteriaParser) -> None:
        self.base_url = base_url
        self.parse_criteria = parse_criteria

    def check(
        self,
        ctx: RequestContext,
        interaction: str,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> AccessFilter | None:
        if ctx.internal:
            return None
        grant = ctx.grant
        if not isinstance(grant, Grant):
            raise unauthenticated(None)
        rtype = resource_type or "*"
        permission = INTERACTION_PERMISSION[interaction]
        write = permission in "cud"
        if rtype in SERVER_WRITTEN:
            if write:
                raise _forbidden(f"{rtype} resources are written by the server only")
            if grant.role not in ADMIN_ROLES and "system" not in grant.scopes.contexts():
                raise _forbidden(f"Only administrators may read {rtype} resources")
        rules = [
            rule
            for scope in grant.scopes.granting(rtype, permission)
            if (rule := self._rule(scope, grant, write)) is not None
        ]
        if not rules:
            raise _forbidden(
                f"The token's scopes do not allow {interaction} on {rtype}"
                + (
                    " (a patient/ scope needs a patient in context)"
                    if _needs_patient(grant, rtype, permission)
                    else ""
                )
            )
        if rtype != "*" and any(r.unrestricted for r in rules):
            return None
        if rtype == "*" and any(r.unrestricted and r.resource_type == "*" for r in rules):
            return None
        return ScopeFilter(tuple(rules), self.base_url)

    def _rule(self, scope: ResourceScope, grant: Grant, write: bool) -> Rule | None:
        criteria: tuple[Criterion, ...] = ()
        if scope.query:
            if scope.resource_type == "*":
                return None  # a query needs a type to mean anything
            try:
                criteria = tuple(self.parse_criteria(scope.resource_type, list(scope.query)))
            except FhirError:
                log.warning("ignoring scope with an unusable query: %s", scope.text)
                return None
        if scope.context == "system":
            if grant.user_id is not None:
                return None  # system/ scopes belong to backend clients, not to users
            return Rule(scope.resource_type, None, criteria)
        if scope.context == "patient":
            if grant.patient is None:
                return None
            return Rule(
                scope.resource_type,
                frozenset({grant.patient}),
                criteria,
                outside_compartment=not write,
            )
        if grant.user_id is None:
            return None
        return Rule(
            scope.resource_type,
            grant.user_patients,
            criteria,
            outside_compartment=not write or grant.role in STAFF_ROLES,
        )


def _needs_patient(grant: Grant, resource_type: str, permission: str) -> bool:
    return grant.patient is None and any(
        s.context == "patient" for s in grant.scopes.granting(resource_type, permission)
    )


def _forbidden(message: str) -> FhirError:
    return FhirError.of(403, error_codes.FORBIDDEN, message)
