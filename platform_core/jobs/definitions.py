"""What a job is: its definition (a name and what to run), what a run is handed, and how a
run says that retrying would not help."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection


class PermanentFailure(Exception):
    """Raised by a job whose failure no retry can cure (its payload is malformed, it names
    something that cannot exist): the job is kept as ``failed`` at once, whatever attempts
    it has left, with this exception as its ``last_error``. Like any failure, the attempt's
    writes through ``ctx.conn`` roll back; fix the cause and retry the job by hand
    (``manage.py jobs retry ID``). Raise any other exception for a failure that may pass
    (a network error, a lock): it is retried with backoff."""


@dataclass(frozen=True)
class JobContext:
    """One run of one job."""

    job_id: int | None
    """None for a run inside the triggering write (:attr:`JobDefinition.in_write`)."""
    name: str
    payload: dict[str, Any]
    attempt: int
    """1 on the first run, 2 on the first retry..."""
    transaction: Connection | None
    """The transaction that marks the job done (see :attr:`conn`), or for a run inside the
    triggering write that write's transaction; None for a job defined with
    ``transactional=False``."""
    core: Any
    """The core services (``platform_core.app.Core``): settings, repository, plugins."""
    resource: dict[str, Any] | None = None
    """For a run inside the triggering write (``job_id`` None): the resource as that write
    stored it (None when it deleted it). Otherwise None: read what is current."""

    @property
    def conn(self) -> Connection:
        """The transaction that marks the job done. Database effects made through it happen
        exactly once: if the run fails or the worker dies, they roll back with it. A job
        defined with ``transactional=False`` has none (``RuntimeError``)."""
        if self.transaction is None:
            raise RuntimeError(
                f"job {self.name} runs without a transaction (transactional=False): open "
                "short ones yourself (core.repository.transaction())"
            )
        return self.transaction


@dataclass(frozen=True)
class JobDefinition:
    """A kind of background job (see ``docs/jobs.md``).

    Jobs are at-least-once: a run may repeat after a crash, so ``run`` must be idempotent
    for effects outside ``ctx.conn``."""

    name: str
    """Dotted and unique: ``search.index_resource``."""
    run: Callable[[JobContext], None]
    max_attempts: int = 5
    """Runs before the job is kept as failed (:class:`PermanentFailure` ends it sooner)."""
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
    transactional: bool = True
    """True: the run happens inside the transaction that marks the job done (``ctx.conn``),
    holding the job's row lock (on SQLite the database's one write lock) throughout. False,
    for jobs that wait on the network (an SMTP server, a webhook): the run holds no
    transaction and no lock; it opens short ones itself, and "done" is written in a
    transaction of its own afterwards. Its database effects then no longer commit together
    with "done": make them conditional (``UPDATE ... WHERE status = 'queued'``), since a job
    may be run again after a crash, and two deliveries of it may even run at the same
    time (see docs/jobs.md)."""
    in_write: bool | Callable[[Any], bool] = False
    """Run the job inside the transaction that triggers it instead of through the outbox
    (``ctx.job_id`` None, ``ctx.conn`` that transaction): no outbox row and no second
    transaction, and the run commits or rolls back with its trigger, exactly once. For
    quick jobs whose effects live in the app's own database.

    * Triggered by ``resource_types``: inside each write; an exception fails the write (the
      global search's embedded index is true at every commit).
    * Triggered by ``events``: inside the publisher's transaction, in a savepoint; an
      exception rolls back the run alone, which is then enqueued as usual (the publisher
      never fails because of a subscriber).

    A callable is asked once per app, with the core (the global search answers True for its
    embedded backend, False for Elasticsearch); if it raises, the job goes through the
    outbox. Enqueued by name, the job runs as any other."""
