"""Background jobs: an outbox table written in the caller's transaction, run inline in the
web process or by Celery workers (see ``docs/jobs.md``).

Plugins define jobs with :class:`JobDefinition` (returned from the ``register_jobs`` hook)
and enqueue them with ``core.jobs.enqueue(conn, name, payload)``; a job that must not be
retried raises :class:`PermanentFailure`.
"""

from __future__ import annotations

from platform_core.jobs.definitions import JobContext, JobDefinition, PermanentFailure

__all__ = ["JobContext", "JobDefinition", "PermanentFailure"]
