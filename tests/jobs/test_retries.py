"""A failing job is retried with exponential backoff, kept as failed after its last
attempt, shown by the CLI, and retried by hand; its effects only ever commit once."""

from __future__ import annotations

import argparse
import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from platform_core.cli import jobs_command
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.jobs.running import RETRIED, backoff_delay
from platform_core.jobs.service import JobNotRetryable
from tests.jobs.conftest import FLAKY, all_jobs, enqueue_flaky, job, make_due


@pytest.fixture
def flag(tmp_path: Path) -> Path:
    """While this file exists the flaky job fails."""
    path = tmp_path / "fail"
    path.write_text("up")
    return path


def test_backoff_doubles_up_to_its_cap_with_a_little_jitter():
    for attempt, base in [(1, 10.0), (2, 15.0), (3, 15.0)]:
        delays = [backoff_delay(FLAKY, attempt) for _ in range(50)]
        assert all(base <= d <= base * 1.1 for d in delays)
        assert len(set(delays)) > 1


def test_retries_back_off_then_fail_then_a_manual_retry_succeeds(jobs, db, flag, effects):
    job_id, before, after = enqueue_flaky(jobs, db, flag, "flaky")
    first = job(jobs, job_id)
    assert (first.state, first.attempts) == ("pending", 1)
    assert "RuntimeError: flag is up (attempt 1)" in (first.last_error or "")
    assert before + timedelta(seconds=10) <= first.available_at
    assert first.available_at <= after + timedelta(seconds=11)
    assert jobs.sweep() == 0  # not due yet

    make_due(db, job_id)
    before = now_utc()
    assert jobs.sweep() == 1
    second = job(jobs, job_id)
    assert (second.state, second.attempts) == ("pending", 2)
    # 10 * 2 = 20 s, capped at backoff_max_s = 15 s (plus up to 10 %).
    assert before + timedelta(seconds=15) <= second.available_at
    assert second.available_at <= now_utc() + timedelta(seconds=16.5)

    assert jobs.run(job_id) == "skipped"  # an early delivery of a retry that is not due
    make_due(db, job_id)
    assert jobs.run(job_id) == "failed"  # the third and last attempt
    failed = job(jobs, job_id)
    assert (failed.state, failed.attempts) == ("failed", 3)
    assert "attempt 3" in (failed.last_error or "") and failed.finished_at is not None
    make_due(db, job_id)
    assert jobs.sweep() == 0  # failed jobs stay failed
    assert [j.id for j in jobs.failed()] == [job_id]
    assert effects("flaky") == 0  # every failed attempt rolled its effect back

    listed = run_cli(jobs, "list", "--state", "failed")
    assert [json.loads(line)["id"] for line in listed.splitlines()] == [job_id]
    assert json.loads(listed)["state"] == "failed"

    flag.unlink()
    retried = json.loads(run_cli(jobs, "retry", str(job_id)))
    assert (retried["state"], retried["attempts"]) == ("done", 1)  # inline: ran already
    assert effects("flaky") == 1
    assert run_cli(jobs, "list", "--state", "failed") == ""


def test_a_permanent_failure_fails_the_job_at_once_without_retries(jobs, db, flag, effects):
    """``PermanentFailure`` (here a subclass) ends the job on its first attempt although it
    has four more: nothing is scheduled, the effect rolled back, the error kept; a retry by
    hand runs it again."""
    with write_transaction(db) as conn:  # run after the commit
        job_id = jobs.enqueue(conn, "test.hopeless", {"tag": "hopeless", "fail_flag": str(flag)})
    failed = job(jobs, job_id)
    assert (failed.state, failed.attempts) == ("failed", 1)
    assert failed.finished_at is not None
    assert "HopelessInput: this payload can never work (attempt 1)" in (failed.last_error or "")
    assert effects("hopeless") == 0
    make_due(db, job_id)
    assert jobs.sweep() == 0 and job(jobs, job_id).state == "failed"
    assert [j.id for j in jobs.failed()] == [job_id]

    assert jobs.retry(job_id).state == "failed"  # inline: ran again, failed for good again
    assert job(jobs, job_id).attempts == 1
    flag.unlink()
    retried = jobs.retry(job_id)
    assert (retried.state, retried.attempts) == ("done", 1)
    assert effects("hopeless") == 1


def test_only_a_failed_job_can_be_retried_by_hand(jobs, db, flag):
    job_id, _, _ = enqueue_flaky(jobs, db, flag, "not-yet")
    before = all_jobs(db)
    with pytest.raises(JobNotRetryable):
        jobs.retry(job_id)
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(command="jobs", jobs_command="retry", id=job_id, plugins=[])
    core = jobs.core
    assert jobs_command.run(args, core=core, stdout=out, stderr=err) == 1
    assert "only a failed job can be retried" in err.getvalue()
    args.id = 999_999
    assert jobs_command.run(args, core=core, stdout=out, stderr=err) == 1
    assert all_jobs(db) == before


def test_a_worker_without_the_jobs_plugin_records_a_failure(jobs, db, app):
    with db.begin() as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "foreign"})
    other = app.extensions["fireside"].jobs  # the suite's app: no test jobs
    assert other.run(job_id) == RETRIED
    record = job(jobs, job_id)
    assert record.state == "pending" and record.attempts == 1
    assert "no active plugin registers a job named 'test.record'" in (record.last_error or "")


def test_cli_sweep_prints_how_many_it_handed_over(jobs, db, effects):
    with db.begin() as conn:
        jobs.enqueue(conn, "test.record", {"tag": "cli-sweep"})
    assert json.loads(run_cli(jobs, "sweep")) == {"handed_over": 1}
    assert effects("cli-sweep") == 1


def run_cli(jobs, *argv: str) -> str:
    parser = argparse.ArgumentParser()
    jobs_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["jobs", *argv])
    out, err = io.StringIO(), io.StringIO()
    status = jobs_command.run(args, core=jobs.core, stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    return out.getvalue()
