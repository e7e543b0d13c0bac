"""Plugin narrowing: the ``fhir_search_narrowing`` hook as an access policy layer.

A plugin may confine what a caller sees of a resource type to what matches a FHIR query
(``organization=Organization/7``: a tenant, a clinic). :class:`NarrowingPolicy` wraps the
core's policy and ANDs each plugin's query into the SQL reach condition, so narrowing holds
for reads, searches, totals, includes, history and the reach checks of writes alike. It
can only narrow: the wrapped policy has already granted or refused the interaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa

from platform_core.fhir.access import AccessFilter, AccessPolicy
from platform_core.fhir.context import RequestContext
from platform_core.fhir.search.clauses import criterion_clause
from platform_core.fhir.search.model import Criterion

CriteriaParser = Callable[[str, list[tuple[str, str]]], list[Criterion]]


@dataclass(frozen=True)
class NarrowedFilter:
    """The wrapped policy's reach, ANDed with each type's narrowing criteria."""

    inner: AccessFilter | None
    narrowing: Callable[[str], list[Criterion]]
    base_url: str

    def clause(self, res: Any, resource_types: Sequence[str]) -> Any:
        parts = [] if self.inner is None else [self.inner.clause(res, resource_types)]
        for resource_type in resource_types:
            criteria = self.narrowing(resource_type)
            if criteria:
                parts.append(
                    sa.or_(
                        res.c.resource_type != resource_type,
                        sa.and_(
                            *(
                                criterion_clause(c, resource_type, self.base_url, res)
                                for c in criteria
                            )
                        ),
                    )
                )
        return sa.and_(*parts) if parts else sa.true()

    def reaches_one(self, conn: Any, resource_type: str, resource_id: str, rid: int) -> bool | None:
        """The inner policy's fast answer for one resource when no plugin narrows its type
        (a narrowed type falls back to the clause: None)."""
        if self.narrowing(resource_type):
            return None
        if self.inner is None:
            return True
        fast = getattr(self.inner, "reaches_one", None)
        return fast(conn, resource_type, resource_id, rid) if fast is not None else None


class NarrowingPolicy:
    """Wraps an access policy with the plugins' ``fhir_search_narrowing`` answers."""

    def __init__(
        self, inner: AccessPolicy, hook: Any, parse_criteria: CriteriaParser, base_url: str
    ) -> None:
        self.inner = inner
        self._hook = hook
        self._parse = parse_criteria
        self._base_url = base_url

    def check(
        self,
        ctx: RequestContext,
        interaction: str,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> AccessFilter | None:
        found = self.inner.check(ctx, interaction, resource_type, resource)
        if ctx.internal or not self._hook.get_hookimpls():
            return found
        cache: dict[str, list[Criterion]] = {}

        def narrowing(rtype: str) -> list[Criterion]:
            if rtype not in cache:
                # hook: fhir_search_narrowing
                queries = self._hook(ctx=ctx, resource_type=rtype)
                pairs = [p for q in queries if q for p in parse_qsl(q, keep_blank_values=True)]
                cache[rtype] = self._parse(rtype, pairs) if pairs else []
            return cache[rtype]

        return NarrowedFilter(found, narrowing, self._base_url)
