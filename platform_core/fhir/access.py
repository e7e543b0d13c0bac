"""Access policy: the single place the repository asks "may this caller do this, and to which
resources?".

The core ships :class:`AllowAll`, used when authorization is switched off (``auth_required =
false``) and for trusted internal callers. The SMART policy (``platform_core.auth.policy``)
enforces scopes, roles and compartments. The repository asks the policy for every interaction,
so no path around it exists, and applies the :class:`AccessFilter` it answers inside the SQL:
searches are narrowed, never filtered after the fact, so totals, paging, includes and history
cannot reveal what the caller may not see.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from platform_core.fhir.context import RequestContext

Interaction = str
"""One of ``read vread history-instance search history create update patch delete
operation``."""


class AccessFilter(Protocol):
    """Which resources a caller reaches, as a SQL condition."""

    def clause(self, res: Any, resource_types: Sequence[str]) -> Any:
        """A condition on the resource table ``res`` (current rows) true for exactly the rows
        of ``resource_types`` the caller reaches."""
        ...

    # A filter may also offer ``reaches_one(conn, resource_type, resource_id, rid) -> bool |
    # None``: a cheaper answer for a single resource (a read by id), None to fall back to
    # the clause. The repository uses it when present.


class AccessPolicy(Protocol):
    """Decides what a caller may do."""

    def check(
        self,
        ctx: RequestContext,
        interaction: Interaction,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> AccessFilter | None:
        """Raise a 401/403 ``FhirError`` if ``ctx`` may not perform ``interaction`` on the type
        at all; otherwise the filter of what it reaches, or None when it reaches everything."""
        ...


class AllowAll:
    """Lets every caller do everything (authorization switched off)."""

    def check(
        self,
        ctx: RequestContext,
        interaction: Interaction,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> AccessFilter | None:
        return None
