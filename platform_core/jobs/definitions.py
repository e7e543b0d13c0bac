"""What a job is: its definition (a name and what to run) and what a run is handed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection


@dataclass(frozen=True)
class JobContext:
    """One run of one job."""

    job_id: int
    name: str
    payload: dict[str, Any]
    attempt: int
    """1 on the first run, 2 on the first retry..."""
    conn: Connection
    """The transaction that marks the job done. Database effects made through it happen
    exactly once: if the run fails or the worker dies, they roll back with it."""
    core: Any
    """The core services (``platform_core.app.Core``): settings, repository, plugins."""


@dataclass(frozen=True)
class JobDefinition:
    """A kind of background job (see ``docs/jobs.md``).

    Jobs are at-least-once: a run may repeat after a crash, so ``run`` must be idempotent
    for effects outside ``ctx.conn``."""

    name: str
    """Dotted and unique: ``search.index_resource``."""
    run: Callable[[JobContext], None]
    max_attempts: int = 5
    """Runs before the job is kept as failed."""
    backoff_s: float = 2.0
    """Delay before the first retry; doubled for each later one."""
    backoff_max_s: float = 600.0
    """Longest delay between two attempts."""
    resource_types: frozenset[str] | None = None
    """FHIR types whose every write enqueues this job in the write's transaction, with a
    :class:`~platform_core.plugin_api.ResourceChange` payload. ``{"*"}`` for all types."""
    events: frozenset[str] = frozenset()
    """Names of domain events (``appointment.booked``) whose every publication enqueues this
    job in the publisher's transaction, with the event's payload plus ``"event"``: its name
    (see :meth:`Jobs.publish <platform_core.jobs.service.Jobs.publish>`)."""
    schedule_s: float | None = None
    """Run every this many seconds (``python manage.py beat``; in-process when jobs run
    inline)."""
