"""Running one job: exactly once for its database effects, retried with backoff on failure.

:func:`run_job` opens a write transaction, locks the job's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already excludes every other writer), skips a job
that is finished (a duplicate delivery) or a retry that is not due yet, calls the job with
that transaction as ``ctx.conn`` and marks the job done in it: the job's writes and "done"
commit together. When the job raises, the transaction rolls back and a second one records
the attempt: the next try ``min(backoff_s * 2**(attempt-1), backoff_max_s)`` seconds later
(plus up to 10% jitter), or ``failed`` after ``max_attempts``, or at once when the job
raised :class:`~platform_core.jobs.definitions.PermanentFailure`.

:func:`run_batch` runs several transactional jobs in one such transaction (the inline
thread's backlog, the inline sweeper's claims); if any of them raises, the batch rolls back
and each job is run alone by :func:`run_job`.

A job defined with ``transactional=False`` is run between two short transactions instead:
the first locks the row, checks it as above and marks it dispatched now (so no sweeper hands
it over again within the lease), the second marks it done; the run itself holds neither.
"""

from __future__ import annotations

import json
import logging
import random
import traceback
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.jobs import outbox
from platform_core.jobs.definitions import JobContext, JobDefinition, PermanentFailure
from platform_core.jobs.schema import DONE, FAILED, PENDING

log = logging.getLogger(__name__)

RETRIED = "retry"
SKIPPED = "skipped"
"""Outcomes of :func:`run_job` besides ``done`` and ``failed``."""


class UnknownJob(Exception):
    """A job whose name no active plugin registers (run in the wrong process?)."""


def backoff_delay(definition: JobDefinition, attempt: int) -> float:
    """Seconds before the retry that follows failed attempt number ``attempt`` (1-based):
    ``backoff_s * 2**(attempt-1)``, capped at ``backoff_max_s``, plus up to 10% jitter (so
    jobs that failed together do not all retry in the same instant)."""
    base = min(definition.backoff_s * 2 ** (attempt - 1), definition.backoff_max_s)
    return base * random.uniform(1.0, 1.1)


def run_job(db: Engine, definitions: Mapping[str, JobDefinition], core: Any, job_id: int) -> str:
    """Run job ``job_id``: ``done``, ``retry``, ``failed`` or ``skipped``.

    An exception of the job is recorded, never raised; only a failure to reach the database
    propagates (the job then stays as it was, for the sweeper)."""
    definition: JobDefinition | None = None
    attempt = 0
    try:
        with write_transaction(db) as conn:
            row = outbox.lock(conn, job_id)
            if row is None or row.state in (DONE, FAILED) or _retry_not_due(row):
                return SKIPPED
            attempt = row.attempts + 1
            definition = definitions.get(row.name)
            if definition is None:
                raise UnknownJob(f"no active plugin registers a job named {row.name!r}")
            payload = json.loads(row.payload)
            if not definition.transactional:
                outbox.mark_running(conn, job_id, now=now_utc())
            else:
                definition.run(JobContext(job_id, row.name, payload, attempt, conn, core))
                outbox.mark_done(conn, job_id, attempts=attempt, now=now_utc())
        if not definition.transactional:
            definition.run(JobContext(job_id, row.name, payload, attempt, None, core))
            with write_transaction(db) as conn:
                row = outbox.lock(conn, job_id)
                if row is None or row.state in (DONE, FAILED):
                    return SKIPPED  # finished meanwhile by a duplicate delivery
                outbox.mark_done(conn, job_id, attempts=attempt, now=now_utc())
        return DONE
    except Exception as exc:
        if attempt == 0:
            raise  # the row could not even be read: nothing ran, nothing to record
        return _record_failure(db, job_id, definition, exc)


def run_batch(
    db: Engine, definitions: Mapping[str, JobDefinition], core: Any, job_ids: Sequence[int]
) -> list[int]:
    """Run the transactional jobs among ``job_ids`` in one write transaction and mark them
    done in it; the ids left to :func:`run_job` one at a time.

    For jobs that queue up behind each other (the inline thread under load) this saves
    every job but one its own transaction: its ``BEGIN``, row lock, "done" update and
    commit. Finished jobs and retries not due are skipped as :func:`run_job` skips them;
    jobs without a transaction are left to run alone. If any job raises, the whole batch
    rolls back (nothing of it happened) and every id is left to run alone, so the failure
    is recorded against the job that failed and the others run once, as they would have.
    """
    alone: list[int] = []
    try:
        with write_transaction(db) as conn:
            ran = []
            for row in outbox.lock_many(conn, job_ids):
                if row.state in (DONE, FAILED) or _retry_not_due(row):
                    continue
                definition = definitions.get(row.name)
                if definition is None or not definition.transactional:
                    alone.append(row.id)
                    continue
                context = JobContext(
                    row.id, row.name, json.loads(row.payload), row.attempts + 1, conn, core
                )
                definition.run(context)
                ran.append(row.id)
            outbox.mark_done_many(conn, ran, now=now_utc())
    except Exception as exc:
        log.info(
            "a batch of %d jobs rolled back (%s); running them one at a time",
            len(job_ids),
            type(exc).__name__,
        )
        return list(job_ids)
    return alone


def _record_failure(
    db: Engine, job_id: int, definition: JobDefinition | None, exc: Exception
) -> str:
    with write_transaction(db) as conn:
        row = outbox.lock(conn, job_id)
        if row is None or row.state in (DONE, FAILED):
            return SKIPPED
        policy = definition or JobDefinition(row.name, run=_missing)
        attempt = row.attempts + 1
        now = now_utc()
        retry_at = None
        permanent = isinstance(exc, PermanentFailure)
        if attempt < policy.max_attempts and not permanent:
            retry_at = now + timedelta(seconds=backoff_delay(policy, attempt))
        outbox.record_failure(
            conn, job_id, attempts=attempt, error=_describe(exc), retry_at=retry_at, now=now
        )
    # The exception's type only: its message may carry patient data (last_error keeps it).
    log.warning(
        "job %d (%s) attempt %d/%d failed with %s; %s",
        job_id,
        policy.name,
        attempt,
        policy.max_attempts,
        type(exc).__name__,
        ("kept as failed (permanent)" if permanent else "kept as failed")
        if retry_at is None
        else f"retry at {format_instant(retry_at)}",
    )
    return FAILED if retry_at is None else RETRIED


def _retry_not_due(row: Any) -> bool:
    """A failed attempt's retry whose time has not come (an early duplicate delivery): the
    sweeper hands it over when it is due."""
    return bool(row.state == PENDING and row.attempts > 0 and row.available_at > now_utc())


def _describe(exc: BaseException) -> str:
    """What ``last_error`` keeps: the exception and where it was raised (no locals)."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = "".join(f"\n  at {f.filename}:{f.lineno} in {f.name}" for f in frames)
    return f"{type(exc).__name__}: {exc}"[:1500] + where


def _missing(ctx: JobContext) -> None:  # pragma: no cover - never called
    raise UnknownJob(ctx.name)
