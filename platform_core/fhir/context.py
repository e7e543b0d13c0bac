"""Who is asking: the request context every repository call takes.

The repository checks access against this, records it in audit, and narrows searches with it.
It is built by the web layer from the caller's token; internal callers (jobs, imports, tests)
use :meth:`RequestContext.system`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    """The caller of one request."""

    actor: str = "system"
    """Who acts: a user's reference (``Practitioner/12``), a client id, or ``system``."""
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"system/*.*"}))
    """Granted SMART scopes."""
    client_id: str | None = None
    """The OAuth client that made the call, if any."""
    patient_id: str | None = None
    """The patient in context (``launch/patient``), which confines ``patient/`` scopes."""
    remote_addr: str | None = None
    """The caller's network address, for audit."""
    request_id: str | None = None
    """The request id the logs carry."""
    user_id: str | None = None
    """The signed-in user behind the token, if any."""
    grant: Any = None
    """What the caller's token grants, as the access policy understands it (opaque here)."""
    internal: bool = False
    """A trusted internal caller (jobs, imports, the server itself): the policy lets it do
    everything, including writing audit records."""

    @classmethod
    def system(cls, actor: str = "system") -> RequestContext:
        """A context with full access, for trusted internal callers."""
        return cls(actor=actor, internal=True)
