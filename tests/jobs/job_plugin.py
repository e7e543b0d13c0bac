"""Test-only jobs, as a plugin module: the tests register it in their apps
(``create_app(..., plugins=[job_plugin])``) and in worker subprocesses
(``python manage.py worker --plugin tests.jobs.job_plugin``).

Jobs leave their database effect as a ``Basic`` resource written through ``ctx.conn``, whose
identifier value is the payload's ``tag``: :func:`effects` counts them, so a test can tell
that an effect happened exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core import hookimpl
from platform_core.db.schema import resource_table
from platform_core.fhir.context import RequestContext
from platform_core.jobs import JobContext, JobDefinition, PermanentFailure

EFFECT_SYSTEM = "urn:fireside:test:job-effect"


def record_effect(ctx: JobContext, tag: str) -> None:
    """Write the job's effect through ``ctx.conn`` (it commits with the job's "done")."""
    resource = {
        "resourceType": "Basic",
        "code": {"text": "job effect"},
        "identifier": [{"system": EFFECT_SYSTEM, "value": tag}],
    }
    ctx.core.repository.create(RequestContext.system("test-job"), ctx.conn, resource)


def effects(db: Engine, tag: str) -> int:
    """How many effects with ``tag`` were committed."""
    r = resource_table
    needle = f'"value":"{tag}"'
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(r)
                .where(r.c.resource_type == "Basic", r.c.content.contains(needle))
            ).scalar_one()
        )


def _record(ctx: JobContext) -> None:
    record_effect(ctx, ctx.payload["tag"])


def _flaky(ctx: JobContext) -> None:
    """Fails while the file ``payload["fail_flag"]`` exists; then records its effect."""
    record_effect(ctx, ctx.payload["tag"])  # rolled back with every failed attempt
    if Path(ctx.payload["fail_flag"]).exists():
        raise RuntimeError(f"flag is up (attempt {ctx.attempt})")


class HopelessInput(PermanentFailure):
    """A job's own kind of permanent failure (subclasses count as permanent too)."""


def _hopeless(ctx: JobContext) -> None:
    """Fails for good (no retry) while the file ``payload["fail_flag"]`` exists; then records
    its effect."""
    record_effect(ctx, ctx.payload["tag"])  # rolled back with the failed attempt
    if Path(ctx.payload["fail_flag"]).exists():
        raise HopelessInput(f"this payload can never work (attempt {ctx.attempt})")


def _outside(ctx: JobContext) -> None:
    """A job without a transaction: it has no ``ctx.conn``, writes its effect in a short
    transaction of its own (on SQLite that needs the write lock the job does not hold),
    then fails while ``payload["fail_flag"]`` exists (the effect stays: it committed)."""
    if ctx.transaction is not None:  # pragma: no cover - the test fails on the missing effect
        return
    with ctx.core.repository.transaction() as conn:
        ctx.core.repository.create(
            RequestContext.system("test-job"),
            conn,
            {
                "resourceType": "Basic",
                "code": {"text": "job effect"},
                "identifier": [{"system": EFFECT_SYSTEM, "value": ctx.payload["tag"]}],
            },
        )
    flag = ctx.payload.get("fail_flag")
    if flag and Path(flag).exists():
        raise RuntimeError(f"flag is up (attempt {ctx.attempt})")


def _block_once(ctx: JobContext) -> None:
    """Records its effect; on its first run it then creates ``payload["marker"]`` and
    blocks (the test kills the worker), on any later run it finishes."""
    record_effect(ctx, ctx.payload["tag"])
    marker = Path(ctx.payload["marker"])
    if marker.exists():
        return
    marker.write_text(str(ctx.job_id))
    time.sleep(float(ctx.payload.get("block_s", 120)))


def _on_patient(ctx: JobContext) -> None:
    record_effect(ctx, f"patient:{ctx.payload['resource_id']}")


def _noop(ctx: JobContext) -> None:
    return None


def _scheduled(ctx: JobContext) -> None:
    record_effect(ctx, f"scheduled:{ctx.payload['period_start']}")


JOBS = [
    JobDefinition("test.record", _record),
    JobDefinition("test.flaky", _flaky, max_attempts=3, backoff_s=10.0, backoff_max_s=15.0),
    JobDefinition("test.hopeless", _hopeless, max_attempts=5, backoff_s=10.0),
    JobDefinition("test.outside", _outside, max_attempts=2, backoff_s=10.0, transactional=False),
    JobDefinition("test.block_once", _block_once),
    JobDefinition("test.on_patient", _on_patient, resource_types=frozenset({"Patient"})),
    JobDefinition("test.noop", _noop),
    JobDefinition("test.scheduled", _scheduled, schedule_s=3600.0),
]


@hookimpl
def register_jobs() -> list[JobDefinition]:
    """The test jobs."""
    return list(JOBS)
