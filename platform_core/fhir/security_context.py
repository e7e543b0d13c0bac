"""``Binary.securityContext`` as an access rule.

FHIR R4 (Binary): a Binary holds little to decide access on, so its ``securityContext``
names a resource that "stands in as a proxy" for it: a Binary whose securityContext
references a resource is readable only by those who may read that resource (a document's
bytes by those who may read its DocumentReference, a photo by those who may read the
Patient). :class:`SecurityContextPolicy` wraps the outermost access policy (the SMART policy
with the plugins' narrowing) and adds that rule for every interaction that can touch a
Binary: reads, vreads, searches, totals, includes, history, and the reach checks of writes
(so a caller cannot write a Binary whose securityContext they may not read).

The reference is read from the stored JSON (no search parameter indexes it in R4):

- a read by id (``reaches_one``) reads the Binary's securityContext, then asks the wrapped
  policy whether the caller may read the target, with the target type's own fast check;
- every other query gets a correlated SQL condition: the Binary has no securityContext, or
  its target is a current resource that the caller's read filter (over every type) reaches.

Fail closed: a securityContext without a resolvable reference to this server (an
identifier only, a contained ``#id``, another server's URL, a deleted or unknown target)
makes the Binary unreadable for restricted callers, and so does a deleted Binary (restricted
callers get 404, not 410, as for compartment resources that lost their index rows). A
target that is itself a Binary is judged by its own reach, without following its context.
Callers who may read every resource (admins, ``system/*.rs``, internal callers) skip all of
this. Searching Binaries as a restricted caller parses each candidate Binary's JSON in the
database: Binary searches by consumer apps are expected to be rare (R4 Binary has no search
parameters of its own), reads by id are the common case.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from platform_core.db.aliases import alias
from platform_core.db.schema import ResourceRow
from platform_core.fhir import definitions
from platform_core.fhir.access import AccessFilter, AccessPolicy
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError

BINARY = "Binary"
_RESOURCES = ResourceRow.__table__


class _JsonText(FunctionElement[str]):
    """The JSON text ``expr``'s member :attr:`key` as text (a string unquoted, an object as
    JSON text), NULL when absent: ``json_extract`` on SQLite, ``->>`` on PostgreSQL. One
    subclass per key, so that the key (written into the SQL) is part of the statement's
    cache key."""

    key: ClassVar[str]
    type = sa.Text()
    inherit_cache = True
    name = "fireside_json_text"


class _SecurityContextOf(_JsonText):
    key = "securityContext"
    inherit_cache = True


class _ReferenceOf(_JsonText):
    key = "reference"
    inherit_cache = True


@compiles(_JsonText)
def _json_text_sqlite(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.\"{element.key}\"')"


@compiles(_JsonText, "postgresql")
def _json_text_pg(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS json) ->> '{element.key}')"


class _Position(FunctionElement[int]):
    """Where ``sub`` first occurs in ``text`` (1-based, 0 when absent)."""

    type = sa.Integer()
    inherit_cache = True
    name = "fireside_position"


@compiles(_Position)
def _position_sqlite(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_pg(element: _Position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


@cache
def _all_types() -> list[str]:
    """Every resource type, in a stable order (the same SQL text in every process)."""
    return sorted(definitions.resource_types())


def _split_reference(reference: Any, base_url: str) -> tuple[Any, Any]:
    """SQL for the type and the id of a relative reference (``Type/id``, also with
    ``/_history/n``) or an absolute one to this server (see :func:`split_reference`)."""
    base = base_url.rstrip("/") + "/"
    local = sa.case(
        (sa.func.substr(reference, 1, len(base)) == base, sa.func.substr(reference, len(base) + 1)),
        else_=reference,
    )
    slash = _Position(local, sa.literal("/"))
    type_ = sa.case((slash > 1, sa.func.substr(local, 1, slash - 1)), else_=sa.null())
    rest = sa.func.substr(local, slash + 1)
    rest_slash = _Position(rest, sa.literal("/"))
    id_ = sa.case((rest_slash > 0, sa.func.substr(rest, 1, rest_slash - 1)), else_=rest)
    return type_, id_


def split_reference(reference: str, base_url: str) -> tuple[str, str] | None:
    """The type and id a securityContext reference names, read as the SQL of
    :func:`_split_reference` reads it; None when it names nothing on this server."""
    base = base_url.rstrip("/") + "/"
    local = reference[len(base) :] if reference.startswith(base) else reference
    type_, slash, rest = local.partition("/")
    id_ = rest.partition("/")[0]
    if not slash or not type_ or not id_:
        return None
    return type_, id_


def binary_guard(res: Any, readable: AccessFilter, base_url: str) -> Any:
    """The condition on resource rows ``res`` (Binary rows) that the row is not deleted and
    its securityContext, if any, names a current resource within ``readable``.

    The securityContext is read from the JSON once per row (a correlated subquery in FROM);
    its reference is then split with string functions so the target is found through the
    ``(resource_type, id)`` unique index."""
    context = sa.select(_SecurityContextOf(res.c.content).label("ctx")).correlate(res).subquery()
    type_, id_ = _split_reference(_ReferenceOf(context.c.ctx), base_url)
    target = alias(_RESOURCES)
    in_reach = sa.exists(
        sa.select(sa.literal(1))
        .select_from(target)
        .where(
            target.c.resource_type == type_,
            target.c.id == id_,
            target.c.deleted.is_(False),
            readable.clause(target, _all_types()),
        )
    )
    return sa.and_(
        res.c.content.is_not(None),
        sa.exists(
            sa.select(sa.literal(1))
            .select_from(context)
            .where(sa.or_(context.c.ctx.is_(None), in_reach))
        ),
    )


class _Nothing:
    """A filter that reaches nothing (the caller may read no type at all)."""

    def clause(self, res: Any, resource_types: Sequence[str]) -> Any:
        return sa.false()


@dataclass(frozen=True)
class SecurityContextFilter:
    """The wrapped policy's reach, with Binaries also confined to their securityContext."""

    inner: AccessFilter | None
    """What the wrapped policy lets the caller reach for this interaction (None: all)."""
    readable: AccessFilter
    """What the caller may read, of any type: the securityContext targets in reach."""
    policy: AccessPolicy
    """The wrapped policy, asked about one target's type for a read by id."""
    ctx: RequestContext
    base_url: str

    def clause(self, res: Any, resource_types: Sequence[str]) -> Any:
        base = sa.true() if self.inner is None else self.inner.clause(res, resource_types)
        if BINARY not in resource_types:
            return base
        guard = binary_guard(res, self.readable, self.base_url)
        if list(resource_types) != [BINARY]:
            guard = sa.or_(res.c.resource_type != BINARY, guard)
        return sa.and_(base, guard)

    def reaches_one(
        self, conn: sa.Connection, resource_type: str, resource_id: str, rid: int
    ) -> bool | None:
        """One resource: the wrapped filter's answer, and for a Binary the check of its
        securityContext's target with that type's own filter."""
        inner = self._inner_reaches(conn, resource_type, resource_id, rid)
        if resource_type != BINARY or inner is False:
            return inner
        if inner is None and not _reached_by_clause(conn, self.inner, resource_type, rid):
            return False
        row = conn.execute(
            sa.select(_RESOURCES.c.deleted, _SecurityContextOf(_RESOURCES.c.content)).where(
                _RESOURCES.c.rid == rid
            )
        ).first()
        if row is None or row[0]:
            return False
        return self._target_readable(conn, row[1])

    def _inner_reaches(
        self, conn: sa.Connection, resource_type: str, resource_id: str, rid: int
    ) -> bool | None:
        if self.inner is None:
            return True
        fast = getattr(self.inner, "reaches_one", None)
        return fast(conn, resource_type, resource_id, rid) if fast is not None else None

    def _target_readable(self, conn: sa.Connection, context: str | None) -> bool:
        if context is None:
            return True
        try:
            reference = json.loads(context).get("reference")
        except (ValueError, AttributeError):
            return False
        target = split_reference(reference, self.base_url) if isinstance(reference, str) else None
        if target is None:
            return False
        target_type, target_id = target
        found = conn.execute(
            sa.select(_RESOURCES.c.rid).where(
                _RESOURCES.c.resource_type == target_type,
                _RESOURCES.c.id == target_id,
                _RESOURCES.c.deleted.is_(False),
            )
        ).first()
        if found is None:
            return False
        try:
            access = self.policy.check(self.ctx, "read", target_type)
        except FhirError:
            return False
        if access is None:
            return True
        fast = getattr(access, "reaches_one", None)
        answer = fast(conn, target_type, target_id, found.rid) if fast is not None else None
        if answer is not None:
            return bool(answer)
        return _reached_by_clause(conn, access, target_type, found.rid)


def _reached_by_clause(
    conn: sa.Connection, access: AccessFilter | None, resource_type: str, rid: int
) -> bool:
    if access is None:
        return True
    found = conn.execute(
        sa.select(_RESOURCES.c.rid).where(
            _RESOURCES.c.rid == rid, access.clause(_RESOURCES, [resource_type])
        )
    ).first()
    return found is not None


class SecurityContextPolicy:
    """Wraps an access policy with the ``Binary.securityContext`` rule (see the module
    docstring)."""

    def __init__(self, inner: AccessPolicy, base_url: str) -> None:
        self.inner = inner
        self.base_url = base_url

    def check(
        self,
        ctx: RequestContext,
        interaction: str,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> AccessFilter | None:
        found = self.inner.check(ctx, interaction, resource_type, resource)
        if ctx.internal or resource_type not in (None, "*", BINARY):
            return found
        try:
            readable: AccessFilter | None = self.inner.check(ctx, "read", "*")
        except FhirError:
            readable = _Nothing()  # may read nothing: no securityContext target is in reach
        if readable is None:
            return found  # reads everything, so every securityContext target too
        return SecurityContextFilter(found, readable, self.inner, ctx, self.base_url)
