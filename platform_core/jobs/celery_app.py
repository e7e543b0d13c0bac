"""The Celery side of jobs: one app configuration, the worker's tasks, and beat's schedule.

Celery only carries job *ids*: the outbox row is the truth, and ``fireside.run_job(job_id)``
calls :meth:`Jobs.run`, which runs the job at most once to completion whatever the broker
does (redelivery, duplicates). Hence ``task_acks_late`` with ``task_reject_on_worker_lost``
(a message is acknowledged only after its run) and ``worker_prefetch_multiplier = 1`` (a
worker holds no more messages than it runs). On Redis, a message not acknowledged within
``visibility_timeout`` (= ``jobs_lease_s``) goes back to the queue; the sweeper hands such jobs
over again after the same lease, whichever broker is used.

Two flavours of the app: the *producer* one that web processes use to publish (short
connect and socket timeouts, no connection retries: a write must never hang on a broker
that is down) and the *worker* one, which also holds the tasks and beat's schedule. A worker
builds the core (``build_core(load_settings())``, no Flask app) once per pool process, after
the fork (``worker_process_init``, or its first task), never in the parent: connections and
threads do not survive a fork.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celery import Celery, signals

from platform_core.config import Settings

if TYPE_CHECKING:
    from platform_core.app import Core
    from platform_core.jobs.service import Jobs

log = logging.getLogger(__name__)

RUN_TASK = "fireside.run_job"
SWEEP_TASK = "fireside.sweep"
SCHEDULE_TASK = "fireside.schedule_job"
CONNECT_TIMEOUT_S = 1.0
"""How long a web process waits to connect to the broker before it gives up publishing."""
PUBLISH_TIMEOUT_S = 3.0
"""How long a web process waits on a broker socket that stopped answering."""


def make_celery(settings: Settings, *, producer: bool = False) -> Celery:
    """A Celery app for ``settings.jobs_broker_url`` (Redis or RabbitMQ URL)."""
    app = Celery("fireside", broker=settings.jobs_broker_url, set_as_current=False)
    transport: dict[str, Any] = {"visibility_timeout": settings.jobs_lease_s}
    if producer:
        transport.update(
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            socket_timeout=PUBLISH_TIMEOUT_S,
            max_retries=0,
        )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.jobs_queue,
        task_default_routing_key=settings.jobs_queue,
        broker_transport_options=transport,
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
    )
    if producer:
        app.conf.update(broker_connection_timeout=CONNECT_TIMEOUT_S, broker_pool_limit=10)
    return app


class WorkerRuntime:
    """The core of one worker process, built on first use (after the pool forked)."""

    def __init__(self, settings: Settings, plugin_modules: Sequence[str] = ()) -> None:
        self.settings = settings
        self.plugin_modules = tuple(plugin_modules)
        self._core: Core | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def jobs(self) -> Jobs:
        """This process's :class:`Jobs`, bound to its core."""
        with self._lock:
            if self._core is None or self._pid != os.getpid():
                from platform_core.app import build_core

                plugins = [importlib.import_module(name) for name in self.plugin_modules]
                self._core = build_core(self.settings, plugins)
                self._pid = os.getpid()
            return self._core.jobs

    def close(self) -> None:
        """Dispose of the core (worker process shutdown)."""
        with self._lock:
            if self._core is not None and self._pid == os.getpid():
                self._core.dispose()
            self._core = None


def worker_app(settings: Settings, plugin_modules: Sequence[str] = ()) -> Celery:
    """The app ``manage.py worker`` and ``manage.py beat`` run: the tasks, and beat's
    schedule (the sweeper, and a check per scheduled job).

    ``plugin_modules`` are registered as plugins beside the installed ones in each worker
    process (``--plugin``: tests and local experiments).
    """
    app = make_celery(settings)
    runtime = WorkerRuntime(settings, plugin_modules)

    @app.task(name=RUN_TASK, ignore_result=True)  # type: ignore[misc]
    def run_job(job_id: int) -> str:
        return runtime.jobs().run(int(job_id))

    @app.task(name=SWEEP_TASK, ignore_result=True)  # type: ignore[misc]
    def sweep() -> int:
        return runtime.jobs().sweep()

    @app.task(name=SCHEDULE_TASK, ignore_result=True)  # type: ignore[misc]
    def schedule_job(name: str) -> int | None:
        return runtime.jobs().enqueue_scheduled(name)

    def _warm(**_: Any) -> None:
        try:
            runtime.jobs()  # build the core now rather than on the first task
        except Exception:
            log.exception("could not build the core; the first task will try again")

    def _close(**_: Any) -> None:
        runtime.close()

    signals.worker_process_init.connect(_warm, weak=False)
    signals.worker_process_shutdown.connect(_close, weak=False)
    signals.worker_shutdown.connect(_close, weak=False)
    app.conf.beat_schedule = beat_schedule(settings, runtime)
    # Nothing to persist between beat runs: every entry is a check at a short interval,
    # and the outbox remembers which period of a scheduled job has run.
    app.conf.beat_scheduler = "celery.beat:Scheduler"
    return app


def beat_schedule(settings: Settings, runtime: WorkerRuntime) -> dict[str, dict[str, Any]]:
    """The sweeper every ``jobs_sweep_interval_s``, and one entry per job with
    ``schedule_s``.

    A scheduled job's entry fires every ``min(schedule_s, jobs_sweep_interval_s)`` seconds;
    the task enqueues the job with the key ``schedule:<name>:<period number>``, so each
    period runs it once, however many beats run and whenever in the period they fire.
    Messages expire after one interval: a backlog of checks never piles up.
    """
    interval = float(max(settings.jobs_sweep_interval_s, 1))
    entries: dict[str, dict[str, Any]] = {
        SWEEP_TASK: {"task": SWEEP_TASK, "schedule": interval, "options": {"expires": interval}}
    }
    plugins = [importlib.import_module(name) for name in runtime.plugin_modules]
    from platform_core.jobs.service import scheduled_definitions
    from platform_core.plugin_host import PluginHost

    for definition in scheduled_definitions(PluginHost(settings, plugins)):
        every = min(float(definition.schedule_s or interval), interval)
        entries[f"schedule:{definition.name}"] = {
            "task": SCHEDULE_TASK,
            "schedule": every,
            "args": (definition.name,),
            "options": {"expires": every},
        }
    return entries
