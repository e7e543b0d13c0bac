"""Jobs through a real broker (Redis) and real Celery workers (``python manage.py worker``
subprocesses): a run, a worker killed mid-job, a broker that is down when the write commits,
and beat driving the sweeper."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from platform_core.app import create_app
from platform_core.config import load_settings
from platform_core.db.engine import write_transaction
from platform_core.jobs import outbox
from platform_core.jobs.celery_app import (
    CONNECT_TIMEOUT_S,
    RUN_TASK,
    SCHEDULE_TASK,
    SWEEP_TASK,
    worker_app,
)
from tests.conftest import FhirClient, issue_token
from tests.jobs import job_plugin
from tests.jobs.conftest import all_jobs, broker_config, free_port, job, wait_for

pytestmark = pytest.mark.slow

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def done(jobs, job_id: int) -> bool:
    return job(jobs, job_id).state == "done"


def test_a_job_runs_on_a_worker(celery_core, start_worker, effects):
    jobs = celery_core.jobs
    assert not jobs.inline and jobs.readiness() is None
    with write_transaction(celery_core.db) as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "on-a-worker"})
    assert job(jobs, job_id).state == "dispatched"  # published after the commit
    worker = start_worker()
    wait_for(f"job {job_id} done; worker log:\n{worker.log()}", lambda: done(jobs, job_id))
    assert effects("on-a-worker") == 1 and job(jobs, job_id).attempts == 1


def test_with_a_broker_a_job_is_written_dispatched_and_the_hand_over_writes_nothing(
    celery_core, start_worker, effects, monkeypatch
):
    """The hand-over after the commit only publishes: the row was written ``dispatched``
    in the enqueuing transaction, so no second transaction claims it."""
    jobs = celery_core.jobs

    def no_claims(*_args: object, **_kwargs: object) -> list[int]:
        raise AssertionError("the hand-over claimed jobs in a transaction of its own")

    monkeypatch.setattr(outbox, "claim_ids", no_claims)
    with write_transaction(celery_core.db) as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "written-dispatched"})
        row = outbox.get(conn, job_id)
        assert row is not None and row.state == "dispatched" and row.dispatched_at is not None
    worker = start_worker()
    wait_for(f"job {job_id} done; worker log:\n{worker.log()}", lambda: done(jobs, job_id))
    assert effects("written-dispatched") == 1


def test_a_permanent_failure_on_a_worker_fails_the_job_at_once(
    celery_core, start_worker, effects, tmp_path: Path
):
    jobs = celery_core.jobs
    flag = tmp_path / "fail"
    flag.write_text("up")
    with write_transaction(celery_core.db) as conn:
        job_id = jobs.enqueue(conn, "test.hopeless", {"tag": "hopeless", "fail_flag": str(flag)})
    worker = start_worker()
    wait_for(
        f"job {job_id} failed; worker log:\n{worker.log()}",
        lambda: job(jobs, job_id).state == "failed",
    )
    failed = job(jobs, job_id)
    assert failed.attempts == 1 and "HopelessInput" in (failed.last_error or "")
    assert effects("hopeless") == 0


def test_a_job_whose_worker_is_killed_runs_again_exactly_once(
    celery_core, start_worker, effects, tmp_path: Path
):
    jobs = celery_core.jobs
    marker = tmp_path / "started"
    first = start_worker()
    with write_transaction(celery_core.db) as conn:
        job_id = jobs.enqueue(conn, "test.block_once", {"tag": "killed", "marker": str(marker)})
    wait_for(f"the job to start; worker log:\n{first.log()}", marker.exists)
    first.kill()  # SIGKILL to the worker's process group, in the middle of the job
    assert job(jobs, job_id).state == "dispatched" and effects("killed") == 0

    second = start_worker()

    def finished() -> bool:
        jobs.sweep()  # hands the job over again once its lease is over
        return done(jobs, job_id)

    wait_for(f"job {job_id} done after the kill; log:\n{second.log()}", finished)
    assert effects("killed") == 1
    assert job(jobs, job_id).attempts == 1  # the killed run never finished an attempt


@pytest.fixture
def rabbitmq_core(app, queue) -> Iterator[object]:
    """A core whose jobs go through RabbitMQ on this test's queue (deleted at the end)."""
    from kombu import Connection

    from platform_core.app import build_core

    core = build_core(load_settings(broker_config(app, queue, RABBITMQ)), [job_plugin])
    yield core
    core.dispose()
    with Connection(RABBITMQ, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(queue)


def test_a_job_runs_on_a_worker_through_rabbitmq(rabbitmq_core, start_worker, effects):
    jobs = rabbitmq_core.jobs
    assert jobs.readiness() is None
    with write_transaction(rabbitmq_core.db) as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "via-rabbitmq"})
    assert job(jobs, job_id).state == "dispatched"
    worker = start_worker(RABBITMQ)
    wait_for(f"job {job_id} done; worker log:\n{worker.log()}", lambda: done(jobs, job_id))
    assert effects("via-rabbitmq") == 1


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A free port for a Redis started later by the test; stopped at the end."""
    servers: list[subprocess.Popen[bytes]] = []
    yield free_port(), servers
    for server in servers:
        server.terminate()
        server.wait(10)


def start_redis(port: int, tmp_path: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(f"redis-server on port {port}", answers, timeout=30)
    return server


def test_a_broker_down_at_commit_neither_fails_nor_holds_up_the_write(
    app, queue, redis_port, start_worker, effects, tmp_path: Path
):
    port, servers = redis_port
    url = f"redis://127.0.0.1:{port}/0"
    down = create_app(broker_config(app, queue, url), plugins=[job_plugin])
    try:
        fhir = FhirClient(down.test_client(), issue_token(down))
        ids = []
        for _ in range(2):  # the first finds the broker down, the second skips it
            started = time.monotonic()
            resp = fhir.post("Patient", {"resourceType": "Patient"})
            elapsed = time.monotonic() - started
            assert resp.status_code == 201
            assert elapsed < 2 * CONNECT_TIMEOUT_S, f"the write took {elapsed:.2f}s"
            ids.append(resp.get_json()["id"])
        rows = [
            r for r in all_jobs(down.extensions["fireside"].db) if r["name"] == "test.on_patient"
        ]
        assert [(r["state"], r["dispatched_at"]) for r in rows] == [("pending", None)] * 2
        ready = down.test_client().get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["checks"]["jobs broker"].startswith("unavailable")

        servers.append(start_redis(port, tmp_path))
        worker = start_worker(url)
        jobs = down.extensions["fireside"].jobs
        assert jobs.sweep() >= 2  # the test jobs, and whatever else the writes enqueued
        for row in rows:
            wait_for(
                f"job {row['id']}; worker log:\n{worker.log()}", lambda r=row: done(jobs, r["id"])
            )
        assert [effects(f"patient:{pid}") for pid in ids] == [1, 1]
        assert down.test_client().get("/readyz").status_code == 200
    finally:
        down.extensions["fireside"].dispose()


def test_beat_sends_the_sweeper_to_the_workers(celery_core, start_worker, effects):
    jobs = celery_core.jobs
    with celery_core.db.begin() as conn:  # committed without an after-commit hand-over
        job_id = jobs.enqueue(conn, "test.record", {"tag": "via-beat"})
    assert job(jobs, job_id).state == "pending"
    worker = start_worker()
    beat = start_worker("redis://127.0.0.1:6379/0", "beat", "--plugin", "tests.jobs.job_plugin")
    wait_for(
        f"job {job_id} done; worker log:\n{worker.log()}\nbeat log:\n{beat.log()}",
        lambda: done(jobs, job_id),
    )
    assert effects("via-beat") == 1


def test_beat_schedules_the_sweeper_and_each_scheduled_job(app, queue):
    settings = load_settings(broker_config(app, queue))
    celery = worker_app(settings, ["tests.jobs.job_plugin"])
    schedule = celery.conf.beat_schedule
    assert schedule[SWEEP_TASK]["schedule"] == 1.0
    assert schedule["schedule:core.jobs.purge"]["args"] == ("core.jobs.purge",)
    assert schedule["schedule:test.scheduled"]["task"] == SCHEDULE_TASK
    assert RUN_TASK in celery.tasks
    conf = celery.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1 and conf.task_serializer == "json"
    assert conf.broker_transport_options["visibility_timeout"] == settings.jobs_lease_s
    assert conf.task_default_queue == queue
