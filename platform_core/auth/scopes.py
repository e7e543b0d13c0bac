"""SMART on FHIR scopes, v1 and v2 (SMART App Launch 2.2, "Scopes and Launch Context").

``patient/Observation.read`` (v1) and ``patient/Observation.rs`` (v2) both become a
:class:`ResourceScope` with a context, a resource type (or ``*``), a set of permissions out of
``c r u d s``, and for v2 optionally a query (``patient/Observation.rs?category=laboratory``)
that narrows which resources of the type the scope reaches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
PERMISSIONS = "cruds"
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
"""v1 ``read`` covers reading and searching, ``write`` creating, updating and deleting."""

INTERACTION_PERMISSION = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search": "s",
    "history": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
    "operation": "r",
}
"""Which permission each repository interaction needs (SMART 2.2: ``r`` is read and vread,
``s`` search and history, ``u`` update and patch)."""

LAUNCH_SCOPES = frozenset(
    {
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    }
)
"""Scopes that grant no data access by themselves but ask for identity or launch context."""

_SCOPE_RE = re.compile(
    r"^(?P<context>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)"
    r"\.(?P<perm>read|write|\*|c?r?u?d?s?)(?:\?(?P<query>.+))?$"
)


@dataclass(frozen=True)
class ResourceScope:
    """One clinical-data scope."""

    context: str
    """``patient``, ``user`` or ``system``."""
    resource_type: str
    """A resource type, or ``*`` for every type."""
    permissions: frozenset[str]
    """A subset of ``c r u d s``."""
    query: tuple[tuple[str, str], ...] = ()
    """v2 granular constraints: only resources matching this search are reached."""
    text: str = ""
    """The scope as written."""

    def covers(self, resource_type: str, permission: str) -> bool:
        """Whether this scope grants ``permission`` on ``resource_type``."""
        return permission in self.permissions and self.resource_type in ("*", resource_type)


def parse_scope(text: str) -> ResourceScope | None:
    """A clinical-data scope, or None when ``text`` is not one (a launch scope, a typo)."""
    m = _SCOPE_RE.match(text)
    if not m or not m["perm"]:
        return None
    perm = m["perm"]
    query = tuple(parse_qsl(m["query"], keep_blank_values=True)) if m["query"] else ()
    if perm in V1_PERMISSIONS:
        if query:
            return None  # queries are a v2 feature
        permissions = frozenset(V1_PERMISSIONS[perm])
    else:
        permissions = frozenset(perm)
    return ResourceScope(m["context"], m["type"], permissions, query, text)


def is_valid_scope(text: str) -> bool:
    """Whether ``text`` is a scope Fireside understands (clinical or launch/identity)."""
    return text in LAUNCH_SCOPES or parse_scope(text) is not None


@dataclass(frozen=True)
class ScopeSet:
    """The parsed scopes of one token."""

    resource_scopes: tuple[ResourceScope, ...]
    other: frozenset[str]

    @classmethod
    def parse(cls, scope: str | frozenset[str] | set[str]) -> ScopeSet:
        items = scope.split() if isinstance(scope, str) else sorted(scope)
        parsed, other = [], set()
        for item in items:
            resource_scope = parse_scope(item)
            if resource_scope is None:
                other.add(item)
            else:
                parsed.append(resource_scope)
        return cls(tuple(parsed), frozenset(other))

    def granting(self, resource_type: str, permission: str) -> list[ResourceScope]:
        """The scopes that grant ``permission`` on ``resource_type`` (``*``: on any type)."""
        if resource_type == "*":
            return [s for s in self.resource_scopes if permission in s.permissions]
        return [s for s in self.resource_scopes if s.covers(resource_type, permission)]

    def contexts(self) -> set[str]:
        return {s.context for s in self.resource_scopes}
