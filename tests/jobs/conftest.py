"""Fixtures of the jobs tests: an inline app with the test jobs on the suite's database, a
core that publishes to a real Redis on a queue of its own, and real Celery workers started
with ``python manage.py worker`` as subprocesses (each in its own process group).

Every broker test uses a fresh queue name (``fireside-test-<random>``) on Redis database 0,
so parallel runs and pytest-xdist workers never take each other's messages. Redis must be
up (``.ci/run`` makes sure of it): without it these tests fail, they are never skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.app import Core, build_core, create_app
from platform_core.config import REPO_ROOT, load_settings
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.jobs.outbox import JobRecord
from platform_core.jobs.schema import job_table
from platform_core.jobs.service import Jobs
from tests.conftest import BASE
from tests.jobs import job_plugin

REDIS = "redis://127.0.0.1:6379/0"
LEASE_S = 3
"""The lease (and Redis visibility timeout) of the broker tests: a lost job is handed over
again after a few seconds."""
WAIT_S = 90.0
"""How long a test waits for something a worker does before it fails."""


@pytest.fixture(scope="session", autouse=True)
def _session_sweeper_off(app: Flask) -> Iterator[None]:
    """The suite's app sweeps in the background; these tests sweep by hand."""
    jobs: Jobs = app.extensions["fireside"].jobs
    jobs.stop_background()
    yield


@pytest.fixture(scope="session")
def jobs_app(app: Flask) -> Iterator[Flask]:
    """An app with the test jobs, running them inline, on the suite's database."""
    application = create_app(
        {
            "database_url": app.extensions["fireside"].settings.database_url,
            "base_url": BASE,
            "audit_flush_ms": 3_600_000,
            "jobs_inline_background": False,
            "jobs_inline_sync": True,
        },
        plugins=[job_plugin],
    )
    yield application
    application.extensions["fireside"].dispose()


@pytest.fixture
def jobs(jobs_app: Flask) -> Jobs:
    return jobs_app.extensions["fireside"].jobs


@pytest.fixture
def db(jobs_app: Flask) -> sa.Engine:
    return jobs_app.extensions["fireside"].db


def all_jobs(db: sa.Engine) -> list[dict[str, Any]]:
    """Every outbox row, oldest first (to compare before and after)."""
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(job_table).order_by("id"))]


def wait_for(what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a broker, a core that publishes to it, workers ---------------------------------------


@pytest.fixture
def queue() -> str:
    return f"fireside-test-{uuid.uuid4().hex[:12]}"


def broker_config(app: Flask, queue: str, broker_url: str = REDIS) -> dict[str, Any]:
    return {
        "database_url": app.extensions["fireside"].settings.database_url,
        "base_url": BASE,
        "audit_flush_ms": 3_600_000,
        "jobs_broker_url": broker_url,
        "jobs_queue": queue,
        "jobs_lease_s": LEASE_S,
        "jobs_sweep_interval_s": 1,
    }


@pytest.fixture
def celery_core(app: Flask, queue: str) -> Iterator[Core]:
    """A core (no web app) whose jobs go through Redis on this test's queue."""
    core = build_core(load_settings(broker_config(app, queue)), [job_plugin])
    yield core
    core.dispose()


class Worker:
    """``python manage.py worker`` in a process group of its own."""

    def __init__(self, env: dict[str, str], log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        command = [sys.executable, "manage.py", *extra]
        if not extra:
            command += ["worker", "--concurrency", "1", "--plugin", "tests.jobs.job_plugin"]
        self.proc = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker and its pool) mid-whatever."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def start_worker(app: Flask, queue: str, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``start_worker(broker_url=REDIS)``: a real Celery worker on this test's queue and
    database; every one started is stopped at the end."""
    started: list[Worker] = []

    def start(broker_url: str = REDIS, *command: str) -> Worker:
        config = broker_config(app, queue, broker_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FIRESIDE_")}
        env.update({f"FIRESIDE_{k.upper()}": str(v) for k, v in config.items()})
        env["FIRESIDE_LOG_LEVEL"] = "INFO"
        env["PYTHONUNBUFFERED"] = "1"
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log", *command)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def job(jobs: Jobs, job_id: int | None) -> JobRecord:
    assert job_id is not None
    record = jobs.get(job_id)
    assert record is not None
    return record


@pytest.fixture
def effects(db: sa.Engine) -> Callable[[str], int]:
    return lambda tag: job_plugin.effects(db, tag)


def make_due(db: sa.Engine, job_id: int | None) -> None:
    """Move a job's next try into the past."""
    with db.begin() as conn:
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.id == job_id)
            .values(available_at=now_utc() - timedelta(seconds=1))
        )


FLAKY = next(d for d in job_plugin.JOBS if d.name == "test.flaky")
"""Backoff 10 s, at most 15 s, 3 attempts."""


def enqueue_flaky(
    jobs: Jobs, db: sa.Engine, flag: Path, tag: str
) -> tuple[int, datetime, datetime]:
    """Enqueue the flaky job (its first attempt runs, and fails, after the commit)."""
    before = now_utc()
    with write_transaction(db) as conn:
        job_id = jobs.enqueue(conn, "test.flaky", {"tag": tag, "fail_flag": str(flag)})
    assert job_id is not None
    return job_id, before, now_utc()
