"""``Jobs``: enqueue in the caller's transaction, hand over after its commit, run once.

Flow of one job:

1. :meth:`Jobs.enqueue` inserts a ``pending`` row on the caller's connection (the write
   that asks for the job) and registers an after-commit callback; a rollback takes the row
   with it and the callback never runs.
2. After the commit, :meth:`Jobs.dispatch` hands the new ids over. Inline (no broker, the
   embedded default) it gives them to the process's inline-jobs thread, which runs what has
   queued up together (``jobs_inline_sync`` runs them in the committing thread instead).
   With a broker they were written ``dispatched`` already (unless the broker failed
   moments before), so the hand-over publishes one message per job and writes nothing; if
   the broker is down the rows go back to ``pending`` and the write that enqueued them is
   not affected. A process that dies between the commit and the publish leaves them to the
   sweeper after ``jobs_lease_s``, like a worker that dies.
3. :meth:`Jobs.run` runs a job in one write transaction that locks its row, calls the
   job with that transaction as ``ctx.conn``, and marks it done: the job's database
   effects commit together with "done", so they happen exactly once. A failure rolls them
   back and schedules a retry with exponential backoff, or keeps the job as ``failed``.
4. :meth:`Jobs.sweep` hands over again what is due (retries, jobs written while the broker
   was down) and what was dispatched longer than ``jobs_lease_s`` ago (its worker died).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from platform_core.config import Settings
from platform_core.db.engine import AFTER_COMMIT, WRITE_OPTION, after_commit, write_transaction
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.jobs import outbox
from platform_core.jobs.definitions import JobContext, JobDefinition
from platform_core.jobs.inline_runner import MAX_BATCH, InlineRunner
from platform_core.jobs.outbox import JobRecord
from platform_core.jobs.running import run_batch, run_job
from platform_core.jobs.schema import FAILED, KEY_LENGTH, NAME_LENGTH, STATES
from platform_core.plugin_api import ResourceChange

if TYPE_CHECKING:
    from platform_core.jobs.background import BackgroundSweeper
    from platform_core.jobs.broker import Publisher
    from platform_core.plugin_host import PluginHost

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
"""Jobs claimed per sweeper transaction."""


class JobNotFound(LookupError):
    """No job has this id."""


class JobNotRetryable(Exception):
    """Only a failed job can be retried by hand."""

    def __init__(self, job_id: int, state: str) -> None:
        super().__init__(f"job {job_id} is {state}; only a failed job can be retried")
        self.state = state


def scheduled_definitions(plugins: PluginHost) -> list[JobDefinition]:
    """The jobs with ``schedule_s`` that ``plugins`` register."""
    # hook: register_jobs
    return [d for d in plugins.collect("register_jobs") if d.schedule_s]


def _check(definition: JobDefinition) -> None:
    if not definition.name or len(definition.name) > NAME_LENGTH:
        raise ValueError(f"a job name must have 1 to {NAME_LENGTH} characters: {definition!r}")
    if definition.max_attempts < 1:
        raise ValueError(f"job {definition.name}: max_attempts must be at least 1")
    if definition.schedule_s is not None and definition.schedule_s <= 0:
        raise ValueError(f"job {definition.name}: schedule_s must be positive")
    if definition.in_write is not False and not (
        (definition.resource_types or definition.events) and definition.transactional
    ):
        raise ValueError(
            f"job {definition.name}: in_write needs resource_types or events, and a "
            "transactional job"
        )


class Jobs:
    """The background jobs of one process (web app, worker or command)."""

    def __init__(
        self,
        settings: Settings,
        db: Engine,
        definitions: Iterable[JobDefinition],
        *,
        publisher: Publisher | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.definitions: dict[str, JobDefinition] = {}
        for definition in definitions:
            _check(definition)
            if definition.name in self.definitions:
                raise ValueError(f"two plugins register a job named {definition.name!r}")
            self.definitions[definition.name] = definition
        self._wildcard = tuple(
            d for d in self.definitions.values() if d.resource_types and "*" in d.resource_types
        )
        self._triggered: dict[str, tuple[JobDefinition, ...]] = {}
        for d in self.definitions.values():
            if d in self._wildcard:
                continue  # already triggered by every type
            for rtype in d.resource_types or ():
                self._triggered[rtype] = (*self._triggered.get(rtype, self._wildcard), d)
        self._subscribers: dict[str, tuple[JobDefinition, ...]] = {}
        for d in self.definitions.values():
            for event in d.events:
                self._subscribers[event] = (*self._subscribers.get(event, ()), d)
        self.core: Any = None
        self._publisher = publisher
        self._lease = timedelta(seconds=settings.jobs_lease_s)
        self._batch_key = ("fireside_jobs_dispatch", id(self))
        self._schedule_marks: dict[str, int] = {}
        self._background: BackgroundSweeper | None = None
        self._sync = settings.jobs_inline_sync
        self._runner = InlineRunner(self._run_together)
        self._in_write: dict[str, bool] = {}
        """Per job with ``in_write``: whether it runs inside the writes (asked once)."""

    @classmethod
    def build(cls, settings: Settings, db: Engine, plugins: PluginHost) -> Jobs:
        """The jobs every active plugin registers (the core's own come from its default
        plugin ``core.jobs``); a broker publisher when ``jobs_broker_url`` is set."""
        # hook: register_jobs
        definitions = plugins.collect("register_jobs")
        publisher = None
        if settings.jobs_broker_url:
            from platform_core.jobs.broker import Publisher

            publisher = Publisher(settings)
        return cls(settings, db, definitions, publisher=publisher)

    def bind(self, core: Any) -> None:
        """The core handed to jobs as ``ctx.core``."""
        self.core = core

    @property
    def inline(self) -> bool:
        """Jobs run in this process after their commit (no broker configured)."""
        return self._publisher is None

    def close(self) -> None:
        """Run the inline jobs still queued, stop the background threads and close the broker
        connections."""
        self._runner.stop()
        self.stop_background()
        if self._publisher is not None:
            self._publisher.close()

    # --- enqueueing ----------------------------------------------------------------------
    def enqueue(
        self,
        conn: Connection,
        name: str,
        payload: dict[str, Any],
        *,
        key: str | None = None,
        delay_s: float = 0.0,
    ) -> int | None:
        """Add job ``name`` in the transaction open on ``conn``; its id, or None when a job
        with the idempotency ``key`` already exists.

        It is handed over after the commit (never when the transaction rolls back) if
        ``conn`` comes from ``write_transaction``/``Repository.transaction()``; otherwise,
        or with ``delay_s``, the sweeper hands it over once it is due. ValueError for a
        name no plugin registers, a payload that is not JSON, or a key that is too long.
        """
        if name not in self.definitions:
            raise ValueError(f"unknown job {name!r}: no active plugin registers it")
        if key is not None and not 0 < len(key) <= KEY_LENGTH:
            raise ValueError(f"a job key must have 1 to {KEY_LENGTH} characters")
        text = outbox.dump_payload(payload)
        now = now_utc()
        dispatch_now = delay_s <= 0 and bool(conn.get_execution_options().get(WRITE_OPTION))
        if delay_s > 0:
            available_at = now + timedelta(seconds=delay_s)
        elif dispatch_now and self.inline:
            # This process runs it right after the commit; other processes' sweepers leave
            # it alone for one lease (and take it over if this process dies first).
            available_at = now + self._lease
        else:
            available_at = now
        batch = self._dispatch_batch(conn) if dispatch_now else None
        # With a broker the row is written dispatched already: the hand-over after the
        # commit then only publishes, with no transaction of its own to claim the job.
        claimed = batch is not None and self._publisher is not None and self._publisher.available()
        job_id = outbox.insert(
            conn,
            name=name,
            payload=text,
            key=key,
            available_at=available_at,
            now=now,
            dispatched_at=batch.stamp if claimed and batch is not None else None,
        )
        if job_id is not None and batch is not None:
            (batch.claimed if claimed else batch.ids).append(job_id)
        return job_id

    def on_resource_change(
        self,
        conn: Connection,
        change: ResourceChange,
        resource: dict[str, Any] | None = None,
    ) -> None:
        """Trigger the jobs of a FHIR write in its transaction (a
        ``Repository.write_listeners`` entry): enqueue them, or run those defined
        ``in_write`` right here with ``resource``, the resource as stored (None for a
        delete). A dictionary lookup when the type triggers none."""
        triggered = self._triggered.get(change.resource_type, self._wildcard)
        if not triggered:
            return
        payload = change.as_payload()
        for definition in triggered:
            if self._runs_in_write(definition):
                context = JobContext(None, definition.name, payload, 1, conn, self.core, resource)
                definition.run(context)
            else:
                self.enqueue(conn, definition.name, payload)

    def _runs_in_write(self, definition: JobDefinition) -> bool:
        """Whether ``definition`` runs inside the triggering writes (see
        :attr:`JobDefinition.in_write`)."""
        if definition.in_write is False or self.core is None:
            return False
        decided = self._in_write.get(definition.name)
        if decided is None:
            decided = definition.in_write is True
            if not decided:
                try:
                    decided = bool(definition.in_write(self.core))
                except Exception:
                    log.exception(
                        "job %s: in_write failed; it goes through the outbox", definition.name
                    )
            self._in_write[definition.name] = decided
        return decided

    def publish(self, conn: Connection, event: str, payload: dict[str, Any]) -> int:
        """Publish domain event ``event`` in the transaction open on ``conn``: one job per
        subscriber (a definition listing ``event`` in ``events``), each with ``payload`` plus
        ``"event": event``, so each subscriber is retried on its own and nothing is lost if
        the transaction commits. A subscriber defined ``in_write`` runs right here in a
        savepoint instead, and is enqueued only if it raises. Returns how many subscribers
        there are (0 when nobody listens: publishing is always safe)."""
        subscribers = self._subscribers.get(event, ())
        if not subscribers:
            return 0
        body = {**payload, "event": event}
        for definition in subscribers:
            if not (
                self._runs_in_write(definition) and self._ran_in_savepoint(conn, definition, body)
            ):
                self.enqueue(conn, definition.name, body)
        return len(subscribers)

    def _ran_in_savepoint(
        self, conn: Connection, definition: JobDefinition, payload: dict[str, Any]
    ) -> bool:
        """Run an ``in_write`` subscriber in a savepoint of the publisher's transaction;
        False (its effects rolled back, logged) when it raised. Jobs it enqueued before
        raising are rolled back too, so they leave the after-commit hand-over as well."""
        batch = conn.info.get(self._batch_key)
        sizes = (len(batch.ids), len(batch.claimed)) if batch is not None else (0, 0)
        try:
            with conn.begin_nested():
                definition.run(JobContext(None, definition.name, payload, 1, conn, self.core))
        except Exception:
            batch = conn.info.get(self._batch_key)
            if batch is not None:
                del batch.ids[sizes[0] :], batch.claimed[sizes[1] :]
            log.exception(
                "job %s failed inside the publisher's transaction; it goes through the outbox",
                definition.name,
            )
            return False
        return True

    def subscribers(self, event: str) -> list[str]:
        """The names of the jobs that ``event`` enqueues."""
        return [d.name for d in self._subscribers.get(event, ())]

    def _dispatch_batch(self, conn: Connection) -> _Dispatch:
        """The one after-commit dispatch of the transaction open on ``conn``, which
        collects the jobs it enqueues."""
        batch = conn.info.get(self._batch_key)
        if batch is None or not any(cb is batch for cb in conn.info.get(AFTER_COMMIT, ())):
            batch = _Dispatch(self, now_utc())
            conn.info[self._batch_key] = batch
            after_commit(conn, batch)
        return batch

    # --- handing over ----------------------------------------------------------------------
    def dispatch(
        self, ids: Sequence[int], *, claimed: Sequence[int] = (), stamp: datetime | None = None
    ) -> None:
        """Hand over jobs that were just committed: ``ids`` pending, ``claimed`` written
        dispatched at ``stamp`` (with a broker). Never raises: what cannot be handed over now
        is left pending for the sweeper."""
        if not ids and not claimed:
            return
        if self._publisher is None:
            if self._sync:
                for job_id in ids:
                    self._run_logged(job_id)
            else:
                self._runner.submit(ids)
            return
        stamp = stamp or now_utc()
        try:
            if not self._publisher.available():
                log.debug("jobs broker down recently: %d job(s) left to the sweeper", len(ids))
                self._release(claimed, stamp)
                return
            handed = list(claimed)
            if ids:
                with write_transaction(self.db) as conn:
                    handed += outbox.claim_ids(conn, ids, now=stamp)
            self._publish(handed, stamp)
        except Exception:
            log.exception(
                "could not hand over %d job(s); the sweeper will", len(ids) + len(claimed)
            )

    def sweep(self) -> int:
        """Hand over again the jobs that are due and those dispatched longer than
        ``jobs_lease_s`` ago, in batches; how many were handed over (inline: run).

        Inline, only jobs this process knows are taken (another process may run plugins
        this one lacks)."""
        handed = 0
        names = set(self.definitions) if self.inline else None
        while True:
            now = now_utc()
            with self.db.connect() as conn:
                if not outbox.any_due(conn, now=now, lease_cutoff=now - self._lease, names=names):
                    return handed
            with write_transaction(self.db) as conn:
                ids = outbox.claim_due(
                    conn,
                    now=now,
                    lease_cutoff=now - self._lease,
                    limit=SWEEP_BATCH,
                    names=names,
                )
            if not ids:
                return handed
            if self._publisher is None:
                for start in range(0, len(ids), MAX_BATCH):
                    self._run_together(ids[start : start + MAX_BATCH])
                published = len(ids)
            else:
                published = self._publish(ids, now)
            handed += published
            if published < len(ids) or len(ids) < SWEEP_BATCH:
                return handed

    def _publish(self, ids: list[int], stamp: datetime) -> int:
        """Publish claimed jobs; on a broker failure put the rest back to pending."""
        from platform_core.jobs.broker import BrokerUnavailable

        assert self._publisher is not None
        if not ids:
            return 0
        try:
            self._publisher.publish(ids)
            return len(ids)
        except BrokerUnavailable as exc:
            log.warning("%s; %d job(s) stay pending", exc, len(ids) - exc.published)
            self._release(ids[exc.published :], stamp)
            return exc.published

    def _release(self, ids: Sequence[int], stamp: datetime) -> None:
        """Put jobs marked dispatched at ``stamp`` that were not published back to
        pending, for the sweeper's next round (not after a lease)."""
        if ids:
            with write_transaction(self.db) as conn:
                outbox.release(conn, ids, dispatched_at=stamp)

    def readiness(self) -> str | None:
        """None when jobs can be handed over (inline, or the broker answers), else why
        not."""
        return None if self._publisher is None else self._publisher.check()

    # --- running -------------------------------------------------------------------------
    def run(self, job_id: int) -> str:
        """Run job ``job_id`` once: ``done``, ``retry`` (failed, will be retried),
        ``failed`` (its last attempt failed) or ``skipped`` (finished already, absent, or a
        retry that is not due yet). See :func:`platform_core.jobs.running.run_job`."""
        return run_job(self.db, self.definitions, self.core, job_id)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the inline jobs handed to this process's runner thread have run (tests,
        shutdown); False when ``timeout`` passed first."""
        return self._runner.drain(timeout)

    def _run_together(self, ids: list[int]) -> None:
        """Run jobs that were handed over together, in one transaction where they can
        share it (:func:`~platform_core.jobs.running.run_batch`), else one at a time."""
        alone = ids
        if len(ids) > 1:
            try:
                alone = run_batch(self.db, self.definitions, self.core, ids)
            except Exception:
                log.exception("jobs %s could not be run together; running them alone", ids)
        for job_id in alone:
            self._run_logged(job_id)

    def _run_logged(self, job_id: int) -> None:
        try:
            self.run(job_id)
        except Exception:
            log.exception("job %d could not be run; it stays for the sweeper", job_id)

    # --- schedules -------------------------------------------------------------------------
    def enqueue_scheduled(self, name: str, *, at: float | None = None) -> int | None:
        """Enqueue scheduled job ``name`` for the period that contains ``at`` (now), with
        the key ``schedule:<name>:<period number>``: each period runs it once, however
        many schedulers ask. None when this period's run exists already."""
        definition = self.definitions[name]
        period = float(definition.schedule_s or 0)
        if period <= 0:
            raise ValueError(f"job {name!r} has no schedule_s")
        number = int((time.time() if at is None else at) // period)
        if self._schedule_marks.get(name) == number:
            return None
        start = datetime.fromtimestamp(number * period, UTC)
        with write_transaction(self.db) as conn:
            job_id = self.enqueue(
                conn, name, {"period_start": format_instant(start)}, key=f"schedule:{name}:{number}"
            )
        self._schedule_marks[name] = number
        return job_id

    def enqueue_due_schedules(self) -> None:
        """Enqueue every scheduled job whose current period has not run yet."""
        for definition in self.definitions.values():
            if definition.schedule_s:
                try:
                    self.enqueue_scheduled(definition.name)
                except Exception:
                    log.exception("could not enqueue scheduled job %s", definition.name)

    def skip_current_periods(self) -> None:
        """Treat the current period of every scheduled job as done in this process: a web
        process starts its schedules at the next period boundary, so (re)starting one never
        triggers scheduled work."""
        now = time.time()
        for definition in self.definitions.values():
            if definition.schedule_s:
                self._schedule_marks[definition.name] = int(now // definition.schedule_s)

    # --- the inline background thread ----------------------------------------------------
    def start_background(self) -> None:
        """Inline mode: sweep and run scheduled jobs every ``jobs_sweep_interval_s`` in a
        daemon thread of this process, until :meth:`close`."""
        if not self.inline or self._background is not None:
            return
        from platform_core.jobs.background import BackgroundSweeper

        self._background = BackgroundSweeper(self, self.settings.jobs_sweep_interval_s)
        self._background.start()

    def stop_background(self) -> None:
        """Stop the background thread (waits for the job it may be running)."""
        if self._background is not None:
            self._background.stop()
            self._background = None

    # --- reading and operating ---------------------------------------------------------
    def get(self, job_id: int) -> JobRecord | None:
        """One job, or None."""
        with self.db.connect() as conn:
            return outbox.get(conn, job_id)

    def find(self, state: str | None = None, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        """Jobs, newest first, optionally only those in ``state``."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown job state {state!r}; one of {', '.join(STATES)}")
        with self.db.connect() as conn:
            return outbox.list_jobs(conn, state=state, limit=limit, offset=offset)

    def failed(self, limit: int = 50, offset: int = 0) -> list[JobRecord]:
        """Jobs kept as failed after their last attempt, newest first."""
        return self.find(FAILED, limit, offset)

    def retry(self, job_id: int) -> JobRecord:
        """Put a failed job back to pending with its attempts reset, and hand it over.
        :class:`JobNotFound`, or :class:`JobNotRetryable` when it is not failed."""
        with write_transaction(self.db) as conn:
            row = outbox.lock(conn, job_id)
            if row is None:
                raise JobNotFound(f"no job {job_id}")
            if row.state != FAILED:
                raise JobNotRetryable(job_id, row.state)
            now = now_utc()
            outbox.reset_for_retry(
                conn, job_id, available_at=now + self._lease if self.inline else now
            )
            self._dispatch_batch(conn).ids.append(job_id)
        record = self.get(job_id)
        assert record is not None
        return record

    def counts(self) -> dict[str, int]:
        """Jobs per state."""
        with self.db.connect() as conn:
            return outbox.count_by_state(conn)


class _Dispatch:
    """The after-commit callback of one transaction: dispatch the jobs it enqueued."""

    def __init__(self, jobs: Jobs, stamp: datetime) -> None:
        self.jobs = jobs
        self.stamp = stamp
        """``dispatched_at`` of the jobs written dispatched (:attr:`claimed`)."""
        self.ids: list[int] = []
        """Jobs written pending: run inline, or claimed then published."""
        self.claimed: list[int] = []
        """Jobs written dispatched (a broker was up): published."""

    def __call__(self) -> None:
        self.jobs.dispatch(self.ids, claimed=self.claimed, stamp=self.stamp)
