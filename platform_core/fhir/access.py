"""Access policy: the single place the repository asks "may this caller do this?".

The core ships :class:`AllowAll`, used when no authorization server is configured (the
embedded default for local development and for trusted internal callers). The identity module
installs a policy that enforces SMART scopes, roles and compartments; the repository calls the
policy for every interaction, so no path around it exists.
"""

from __future__ import annotations

from typing import Any, Protocol

from platform_core.fhir.context import RequestContext

Interaction = str
"""One of ``read vread search history create update patch delete operation``."""


class AccessPolicy(Protocol):
    """Decides what a caller may do."""

    def check(
        self,
        ctx: RequestContext,
        interaction: Interaction,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> None:
        """Raise a 401/403 ``FhirError`` if ``ctx`` may not perform ``interaction``."""
        ...


class AllowAll:
    """Lets every caller do everything (no authorization configured)."""

    def check(
        self,
        ctx: RequestContext,
        interaction: Interaction,
        resource_type: str | None,
        resource: dict[str, Any] | None = None,
    ) -> None:
        return None
