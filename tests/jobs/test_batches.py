"""Jobs handed over together run in one transaction (``running.run_batch``): each exactly
once, marked done after one attempt; a failing job rolls its batch back and every job of it
runs again alone, so only the failing one records a failure; jobs without a transaction run
alone. The inline thread hands over what has queued up as one batch."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import sqlalchemy as sa

from platform_core.jobs.inline_runner import InlineRunner
from platform_core.jobs.running import run_batch
from platform_core.jobs.service import Jobs
from tests.jobs.conftest import job


def _pending(jobs: Jobs, db: sa.Engine, *specs: tuple[str, dict]) -> list[int]:
    """Jobs enqueued outside a write transaction: pending and due, for the sweeper."""
    with db.begin() as conn:
        ids = [jobs.enqueue(conn, name, payload) for name, payload in specs]
    assert all(job_id is not None for job_id in ids)
    return [int(job_id) for job_id in ids if job_id is not None]


def test_a_batch_runs_each_job_once_in_one_transaction(jobs, db, effects):
    tag = uuid.uuid4().hex[:8]
    ids = _pending(jobs, db, *[("test.record", {"tag": f"{tag}-{i}"}) for i in range(3)])
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    sa.event.listen(db, "before_cursor_execute", count)
    try:
        assert run_batch(db, jobs.definitions, jobs.core, ids) == []
    finally:
        sa.event.remove(db, "before_cursor_execute", count)
    for i, job_id in enumerate(ids):
        record = job(jobs, job_id)
        assert (record.state, record.attempts) == ("done", 1)
        assert record.finished_at is not None
        assert effects(f"{tag}-{i}") == 1
    # One row lock and one "done" update for the three, not one of each per job.
    assert statements.count("UPDATE") == 1
    assert sum(1 for s in statements if s == "SELECT") >= 1
    assert run_batch(db, jobs.definitions, jobs.core, ids) == []  # done jobs are skipped
    assert all(effects(f"{tag}-{i}") == 1 for i in range(3))


def test_a_failing_job_rolls_its_batch_back_and_each_job_then_runs_alone(
    jobs, db, effects, tmp_path: Path
):
    flag = tmp_path / "fail"
    flag.write_text("up")
    tag = uuid.uuid4().hex[:8]
    ids = _pending(
        jobs,
        db,
        ("test.record", {"tag": f"{tag}-a"}),
        ("test.flaky", {"tag": f"{tag}-flaky", "fail_flag": str(flag)}),
        ("test.record", {"tag": f"{tag}-b"}),
    )
    assert run_batch(db, jobs.definitions, jobs.core, ids) == ids
    assert [effects(f"{tag}-{x}") for x in ("a", "flaky", "b")] == [0, 0, 0]
    assert all(job(jobs, job_id).state == "pending" for job_id in ids)
    assert all(job(jobs, job_id).attempts == 0 for job_id in ids)  # nothing happened

    assert jobs.sweep() >= 3  # the sweeper runs them together: the batch fails, then alone
    assert [effects(f"{tag}-{x}") for x in ("a", "flaky", "b")] == [1, 0, 1]
    first, flaky, second = (job(jobs, job_id) for job_id in ids)
    assert (first.state, first.attempts, second.state, second.attempts) == ("done", 1, "done", 1)
    assert (flaky.state, flaky.attempts) == ("pending", 1)
    assert "flag is up (attempt 1)" in (flaky.last_error or "")


def test_a_job_without_a_transaction_is_left_to_run_alone(jobs, db, effects):
    tag = uuid.uuid4().hex[:8]
    ids = _pending(
        jobs,
        db,
        ("test.record", {"tag": f"{tag}-in"}),
        ("test.outside", {"tag": f"{tag}-out"}),
    )
    assert run_batch(db, jobs.definitions, jobs.core, ids) == [ids[1]]
    assert job(jobs, ids[0]).state == "done" and effects(f"{tag}-in") == 1
    assert job(jobs, ids[1]).state == "pending" and effects(f"{tag}-out") == 0
    assert jobs.run(ids[1]) == "done"
    assert effects(f"{tag}-out") == 1


def test_the_inline_thread_hands_over_what_queued_up_as_one_batch():
    gate = threading.Event()
    started = threading.Event()
    batches: list[list[int]] = []

    def run(ids: list[int]) -> None:
        batches.append(ids)
        started.set()
        assert gate.wait(10)

    runner = InlineRunner(run)
    runner.submit([1])
    assert started.wait(10)  # the thread is busy with job 1
    runner.submit([2, 3])
    runner.submit([4])
    gate.set()
    assert runner.drain(10)
    runner.stop()
    assert batches == [[1], [2, 3, 4]]
