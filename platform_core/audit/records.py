"""What one audited event says, before it becomes a FHIR AuditEvent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from platform_core.fhir.instants import now_utc

KINDS = {
    "login": ("110114", "User Authentication"),
    "logout": ("110114", "User Authentication"),
    "token": ("110114", "User Authentication"),
    "consent": ("110114", "User Authentication"),
    "rest": ("rest", "RESTful Operation"),
}
"""``kind`` -> the AuditEvent.type coding (DICOM for authentication, FHIR's ``rest``)."""


@dataclass(frozen=True)
class AuditRecord:
    """One audited event.

    ``outcome`` is the AuditEvent outcome code: ``0`` success, ``4`` minor failure (a wrong
    password, a refused scope), ``8`` serious failure, ``12`` major failure.
    """

    kind: str
    """``login``, ``logout``, ``token`` (token, introspection and revocation requests),
    ``consent`` (a user's decision on the consent page) or ``rest`` (a FHIR interaction)."""
    action: str
    """AuditEvent.action: ``C`` create, ``R`` read/search, ``U`` update, ``D`` delete, ``E``
    execute (logins, token issue, operations)."""
    outcome: str
    subtype: str | None = None
    """For ``rest``: the FHIR interaction (``read``, ``search-type``...); for the others a
    short word such as ``password``, ``authorization_code``, ``client_credentials``,
    ``introspect``, ``revoke``, ``approve`` or ``deny``."""
    who: str | None = None
    """The acting user (``Practitioner/7``, or ``User/<id>`` without a FHIR resource)."""
    client_id: str | None = None
    remote_addr: str | None = None
    entity: str | None = None
    """What was acted on: ``Patient/1``, a search URL, or the account's email for logins."""
    description: str | None = None
    recorded: datetime = field(default_factory=now_utc)
