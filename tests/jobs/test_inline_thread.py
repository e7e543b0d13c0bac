"""Inline jobs (no broker) run in the process's inline-jobs thread right after their commit:
the committing request does not wait for them (``jobs_inline_sync = false``, the default)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask

from platform_core import hookimpl
from platform_core.app import create_app
from platform_core.db.engine import write_transaction
from platform_core.jobs import JobContext, JobDefinition
from tests.conftest import BASE

STARTED = threading.Event()
GATE = threading.Event()
RAN_IN: list[str] = []


def _gated(ctx: JobContext) -> None:
    RAN_IN.append(threading.current_thread().name)
    STARTED.set()
    assert GATE.wait(30), "the test never opened the gate"


class Gated:
    @hookimpl
    def register_jobs(self) -> list[JobDefinition]:
        return [JobDefinition("test.gated", _gated)]


@pytest.fixture
def thread_app(app: Flask) -> Iterator[Flask]:
    application = create_app(
        {
            "database_url": app.extensions["fireside"].settings.database_url,
            "base_url": BASE,
            "audit_flush_ms": 3_600_000,
            "jobs_inline_background": False,
        },
        plugins=[Gated()],
    )
    STARTED.clear()
    GATE.clear()
    RAN_IN.clear()
    yield application
    GATE.set()
    application.extensions["fireside"].dispose()


def test_the_committing_thread_does_not_wait_for_its_jobs(thread_app: Flask) -> None:
    core = thread_app.extensions["fireside"]
    with write_transaction(core.db) as conn:
        job_id = core.jobs.enqueue(conn, "test.gated", {})
    # Back from the commit while the job is still blocked in the other thread.
    assert STARTED.wait(10)
    assert core.jobs.get(job_id).state != "done"
    GATE.set()
    assert core.jobs.drain(10)
    assert core.jobs.get(job_id).state == "done"
    assert RAN_IN == ["fireside-inline-jobs"]


def test_closing_runs_what_is_queued(thread_app: Flask) -> None:
    core = thread_app.extensions["fireside"]
    GATE.set()
    with write_transaction(core.db) as conn:
        ids = [core.jobs.enqueue(conn, "test.gated", {}) for _ in range(3)]
    core.jobs.close()
    assert [core.jobs.get(i).state for i in ids] == ["done", "done", "done"]
