"""The dataclasses plugins and the core exchange through hooks.

Plugins meet the core through these plain values, never through ORM rows or the Flask
request, so a plugin's behaviour depends only on what a hook hands it. See
``docs/plugin_hooks.md`` for each hook that uses them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from platform_core.fhir.context import RequestContext


class RejectWrite(Exception):
    """Raised by ``fhir_resource_before_write`` to refuse a write.

    The caller gets ``status`` (422 by default) and an OperationOutcome with ``message``
    (code ``FS-0701``); nothing is written."""

    def __init__(self, message: str, *, status: int = 422, expression: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.expression = expression


@dataclass
class PendingWrite:
    """A FHIR write about to be stored, as ``fhir_resource_before_write`` sees it.

    ``resource`` may be changed in place; the changed resource is what gets validated and
    stored. It is None for a delete."""

    interaction: str
    """``create``, ``update`` (PUT, PATCH, update-as-create) or ``delete``."""
    resource_type: str
    resource_id: str | None
    """None for a create whose id the server has not assigned yet."""
    resource: dict[str, Any] | None
    ctx: RequestContext
    conn: Connection | None = None
    """The write's own transaction: a plugin's reads and writes through it commit or roll
    back with the resource (claiming a Slot for an Appointment, say)."""
    core: Any = None
    """The core services (``platform_core.app.Core``): settings, repository, jobs."""


@dataclass(frozen=True)
class ResourceChange:
    """A committed FHIR write, as ``fhir_resource_after_commit`` and jobs see it."""

    interaction: str
    """``create``, ``update`` or ``delete``."""
    resource_type: str
    resource_id: str
    version_id: int
    last_updated: datetime
    deleted: bool
    actor: str
    """Who wrote it (``Practitioner/12``, a client id, or ``system``)."""

    def as_payload(self) -> dict[str, Any]:
        """A JSON-ready form (the payload of jobs triggered by this change)."""
        return {
            "interaction": self.interaction,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "version_id": self.version_id,
            "last_updated": self.last_updated.isoformat(),
            "deleted": self.deleted,
            "actor": self.actor,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ResourceChange:
        """The inverse of :meth:`as_payload`."""
        return cls(
            interaction=payload["interaction"],
            resource_type=payload["resource_type"],
            resource_id=payload["resource_id"],
            version_id=int(payload["version_id"]),
            last_updated=datetime.fromisoformat(payload["last_updated"]),
            deleted=bool(payload["deleted"]),
            actor=payload.get("actor", "system"),
        )


@dataclass(frozen=True)
class Command:
    """A ``python manage.py NAME`` command contributed by a plugin."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    """Runs the command; returns the process exit code."""
    configure: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    """Adds the command's arguments to its parser."""


@dataclass(frozen=True)
class ScopeDefinition:
    """An OAuth scope a plugin's API checks, such as ``pharmacy/orders.write``."""

    name: str
    description: str


@dataclass(frozen=True)
class OperationCall:
    """One invocation of a plugin's ``$operation``."""

    ctx: RequestContext
    repository: Any
    """The core :class:`~platform_core.fhir.repository.Repository`: reads and writes made
    through it with ``ctx`` are authorized as the caller."""
    method: str
    resource_type: str | None
    """None at system level."""
    resource_id: str | None
    """Set at instance level."""
    query: list[tuple[str, str]]
    """The URL query parameters, in order."""
    body: dict[str, Any] | None
    """The request body (usually a ``Parameters`` resource) for POST."""
    conn: Any = None
    """For an operation whose definition says ``affectsState``: the open write transaction
    to pass to the repository's write methods. It commits when the handler returns and
    rolls back when it raises. None for operations that only read."""


@dataclass(frozen=True)
class FhirOperation:
    """A custom ``$operation`` with its OperationDefinition.

    Where it is served (system, type, instance level; which resource types) and whether GET
    is allowed (only when ``affectsState`` is false) come from ``definition``."""

    definition: dict[str, Any]
    """An R4 OperationDefinition resource; ``code`` is the name after ``$``."""
    handler: Callable[[OperationCall], dict[str, Any]]
    """Returns the resource to answer with (200). Raise ``FhirError`` for an error answer."""

    @property
    def code(self) -> str:
        """The operation's name, without ``$``."""
        return str(self.definition["code"])


@dataclass(frozen=True)
class TextSearch:
    """A FHIR ``_text`` or ``_content`` criterion, asked of the global search backend."""

    resource_type: str
    parameter: str
    """``_text`` (the narrative) or ``_content`` (the whole resource)."""
    text: str
    ctx: RequestContext
    limit: int
    """Most ids wanted; the search is narrowed to these."""


@dataclass(frozen=True)
class ReadinessCheck:
    """One line of ``/readyz``: ``check`` returns None when the dependency answers and a
    short reason when it does not (it may also raise)."""

    name: str
    check: Callable[[], str | None]


@dataclass(frozen=True)
class SearchDocument:
    """One globally searchable document (see ``docs/global_search.md``)."""

    kind: str
    """What it is: ``patient``, ``practitioner``, ``medication``, ``product``, ``article``..."""
    id: str
    """Unique within ``kind``."""
    title: str
    body: str = ""
    keywords: tuple[str, ...] = ()
    url: str | None = None
    """Where the full thing is (a FHIR reference such as ``Patient/1``, or an API path)."""
    patient_id: str | None = None
    """None: a public document anyone may find. Otherwise the patient whose record this is:
    only callers who may read that patient find it."""
    fields: dict[str, Any] = field(default_factory=dict)
    """Extra values shown with a hit (not searched)."""


@dataclass(frozen=True)
class DocumentSource:
    """Where documents of one ``kind`` come from.

    Either FHIR resources (``resource_type`` plus ``to_document``; the global search indexes
    them when they are written) or a plugin's own data (``load_all``, used by a full reindex;
    the plugin indexes its changes itself, see ``docs/global_search.md``)."""

    kind: str
    resource_type: str | None = None
    to_document: Callable[[dict[str, Any]], SearchDocument | None] | None = None
    load_all: Callable[[Any], Iterable[SearchDocument]] | None = None
    """Called with the core; yields every document of the kind."""
