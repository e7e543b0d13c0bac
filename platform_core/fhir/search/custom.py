"""Custom SearchParameter resources: registration on write, and the snapshot searches use.

Creating or changing a SearchParameter through the API registers it in ``fhir_search_param``
in the same transaction, with status ``reindexing``: from then on every write indexes it, and
the :mod:`.reindex` job indexes the resources that existed before. Searches may use it once the
reindex has completed (status ``active``). The table is the truth for every node; each process
keeps a snapshot for at most :data:`SNAPSHOT_TTL` seconds.

A composite parameter names its components by the canonical URL of other SearchParameters
(HL7's or ones stored here); their types are resolved when the composite is registered and
kept with it (``components``), so every node compiles it the same way.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from platform_core.db.schema import resource_table, search_param_table
from platform_core.fhir import definitions, error_codes
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import now_utc
from platform_core.fhir.search import registry
from platform_core.fhir.search.codesystems import stored_resource
from platform_core.fhir.search.composite import compile_composite
from platform_core.fhir.search.extract import compile_expression
from platform_core.fhir.search.model import SearchParameterDef

SNAPSHOT_TTL = 1.0
"""Seconds a process reuses its snapshot of the custom parameters."""
CUSTOM_TYPES = frozenset(
    {"token", "string", "date", "number", "quantity", "reference", "uri", "composite"}
)
S = search_param_table.c


@dataclass(frozen=True)
class Definition:
    """What the index needs of a SearchParameter resource."""

    code: str
    type: str
    expression: str
    bases: tuple[str, ...]
    targets: str
    """Space-separated target types of a reference parameter."""
    components: tuple[tuple[str, str], ...] = ()
    """For a composite: (component type, expression relative to the composite's node)."""

    @property
    def param(self) -> SearchParameterDef:
        return SearchParameterDef(
            self.code, self.type, self.expression, tuple(self.targets.split()), self.components
        )


def _reject(message: str) -> FhirError:
    return FhirError.of(400, error_codes.UNSUPPORTED_SEARCH_FEATURE, message, "SearchParameter")


def parse_definition(resource: dict[str, Any], conn: Connection | None = None) -> Definition:
    """The :class:`Definition` of a SearchParameter; 400 when Fireside could not index it, so
    that a parameter is never accepted and then silently useless. ``conn`` finds the stored
    SearchParameters a composite's components may name."""
    code, kind = resource.get("code"), resource.get("type")
    expression = resource.get("expression")
    bases = tuple(resource.get("base") or ())
    if kind not in CUSTOM_TYPES:
        raise _reject(
            f"custom parameters of type {kind!r} are not supported; use one of "
            f"{', '.join(sorted(CUSTOM_TYPES))}"
        )
    if not isinstance(expression, str):
        raise _reject("a custom SearchParameter needs an expression")
    components = _components(resource, conn) if kind == "composite" else ()
    definition = Definition(
        str(code), str(kind), expression, bases, " ".join(resource.get("target") or ()), components
    )
    for base in bases:
        if not definitions.is_resource_type(base):
            raise _reject(f"base {base!r} is not a resource type")
        if kind == "composite":
            if compile_composite(definition.param, base) is None:
                raise _reject(
                    f"the composite {code!r} cannot be indexed for {base}: the first component "
                    "must be a token or reference, the second a token, quantity, number, date "
                    "or string, an optional third a number, and every expression a path the "
                    "indexer compiles (paths, ofType()/as, where(field='value'))"
                )
        elif compile_expression(expression, base) is None:
            raise _reject(
                f"the expression {expression!r} is outside what the indexer compiles for {base}: "
                "paths, ofType()/as, where(field='value') and where(resolve() is Type)"
            )
        official = registry.parameters_for(base).get(code or "")
        if official is not None:
            raise _reject(f"{base} already has a parameter {code!r}")
    return definition


def _components(resource: dict[str, Any], conn: Connection | None) -> tuple[tuple[str, str], ...]:
    """(type, expression) of each component, the type taken from the SearchParameter the
    component's ``definition`` names."""
    out = []
    for component in resource.get("component") or ():
        url, expression = component.get("definition"), component.get("expression")
        if not isinstance(url, str) or not isinstance(expression, str):
            raise _reject("each component of a composite needs a definition and an expression")
        kind = registry.official_type(url)
        if kind is None and conn is not None:
            stored = stored_resource(conn, "SearchParameter", url)
            kind = stored.get("type") if stored else None
        if kind is None:
            raise _reject(f"the component definition {url!r} is no SearchParameter known here")
        if kind == "composite":
            raise _reject(f"the component {url!r} is itself a composite")
        out.append((str(kind), expression))
    if not 2 <= len(out) <= 3:
        raise _reject("a composite parameter needs two or three components")
    return tuple(out)


def register(conn: Connection, resource_id: str, resource: dict[str, Any]) -> bool:
    """Record (or re-record) a SearchParameter; True when a reindex must run."""
    if resource.get("status") == "retired":
        retire(conn, resource_id)
        return False
    definition = parse_definition(resource, conn)
    total = conn.execute(
        sa.select(sa.func.count())
        .select_from(resource_table)
        .where(
            resource_table.c.resource_type.in_(definition.bases),
            resource_table.c.deleted.is_(False),
        )
    ).scalar_one()
    values = {
        "code": definition.code,
        "type": definition.type,
        "expression": definition.expression,
        "bases": " ".join(definition.bases),
        "targets": definition.targets,
        "components": json.dumps(definition.components) if definition.components else None,
        "status": "reindexing",
        "cursor_rid": 0,
        "processed": 0,
        "total": total,
        "lease_owner": None,
        "lease_until": None,
        "error": None,
        "updated_at": now_utc(),
    }
    updated = conn.execute(
        sa.update(search_param_table)
        .where(S.resource_id == resource_id)
        .values(generation=S.generation + 1, **values)
    ).rowcount
    if not updated:
        conn.execute(
            sa.insert(search_param_table).values(resource_id=resource_id, generation=1, **values)
        )
    return True


def retire(conn: Connection, resource_id: str) -> None:
    """Stop using a SearchParameter (deleted or retired)."""
    conn.execute(
        sa.update(search_param_table)
        .where(S.resource_id == resource_id)
        .values(status="retired", updated_at=now_utc(), generation=S.generation + 1)
    )


def state(conn: Connection, resource_id: str) -> dict[str, Any] | None:
    """The index state of a custom SearchParameter (status, processed, total, error)."""
    row = conn.execute(
        sa.select(S.status, S.processed, S.total, S.error).where(S.resource_id == resource_id)
    ).first()
    return dict(row._mapping) if row else None


def load(conn: Connection) -> tuple[registry.CustomParameter, ...]:
    """Every custom parameter that is not retired."""
    rows = conn.execute(
        sa.select(
            S.resource_id,
            S.code,
            S.type,
            S.expression,
            S.bases,
            S.targets,
            S.components,
            S.status,
            S.processed,
            S.total,
        ).where(S.status != "retired")
    ).all()
    return tuple(
        registry.CustomParameter(
            resource_id=row.resource_id,
            param=SearchParameterDef(
                row.code,
                row.type,
                row.expression,
                tuple(row.targets.split()),
                decode_components(row.components),
            ),
            bases=tuple(row.bases.split()),
            status=row.status,
            processed=row.processed,
            total=row.total,
        )
        for row in rows
    )


def decode_components(text: str | None) -> tuple[tuple[str, str], ...]:
    """The stored ``components`` column as (type, expression) pairs."""
    if not text:
        return ()
    return tuple((str(kind), str(expression)) for kind, expression in json.loads(text))


class CustomParameters:
    """A per-process snapshot of the custom parameters, refreshed at most every second.

    ``engine`` has a connection of its own (``db.engine.create_side_engine``): a refresh
    happens inside whatever request first finds the snapshot stale, possibly in the middle
    of its write transaction, and must not wait for the pool that request is holding from."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._snapshot: tuple[registry.CustomParameter, ...] = ()
        self._loaded_at = -1.0e9

    def registry(self) -> registry.SearchRegistry:
        """The registry to use now."""
        now = time.monotonic()
        if now - self._loaded_at > SNAPSHOT_TTL:
            with self._lock:
                if now - self._loaded_at > SNAPSHOT_TTL:
                    with self.engine.connect() as conn:
                        self._snapshot = load(conn)
                    self._loaded_at = now
        if not self._snapshot:
            return registry.OFFICIAL
        return registry.SearchRegistry(self._snapshot)

    def invalidate(self) -> None:
        """Reload on next use (after this process changed a parameter)."""
        self._loaded_at = -1.0e9
