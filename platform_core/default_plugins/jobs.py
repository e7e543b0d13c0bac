"""The core's own jobs plugin (``core.jobs``): the outbox retention purge, and the broker's
line in ``/readyz``.

The purge runs daily (``schedule_s``) and deletes jobs that finished (``done``) more than
``jobs_retention_days`` ago, at most :data:`PURGE_BATCH` per run; a run that hit the limit
enqueues the next one in its own transaction. Failed jobs are kept until someone retries
them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from platform_core import hookimpl
from platform_core.fhir.instants import now_utc
from platform_core.jobs import outbox
from platform_core.jobs.definitions import JobContext, JobDefinition
from platform_core.plugin_api import ReadinessCheck

PURGE_JOB = "core.jobs.purge"
PURGE_BATCH = 10_000
"""Rows one purge run deletes at most (keeps its transaction short)."""
PURGE_EVERY_S = 24 * 3600.0


def purge_finished_jobs(ctx: JobContext) -> None:
    """Delete done jobs older than the retention; chain another run if more remain."""
    days = ctx.core.settings.jobs_retention_days
    deleted = outbox.purge_done(
        ctx.conn, before=now_utc() - timedelta(days=days), limit=PURGE_BATCH
    )
    if deleted >= PURGE_BATCH:
        ctx.core.jobs.enqueue(ctx.conn, PURGE_JOB, {"continued": True})


@hookimpl
def register_jobs() -> list[JobDefinition]:
    """The retention purge of the outbox."""
    return [
        JobDefinition(
            PURGE_JOB,
            purge_finished_jobs,
            max_attempts=3,
            backoff_s=60.0,
            schedule_s=PURGE_EVERY_S,
        )
    ]


@hookimpl
def register_readiness_checks(core: Any) -> list[ReadinessCheck]:
    """``jobs broker``: ok inline; with a broker, whether it accepts a connection."""
    return [ReadinessCheck("jobs broker", core.jobs.readiness)]
