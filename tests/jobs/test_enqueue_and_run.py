"""The outbox, inline: a job exists exactly when the transaction that enqueued it committed,
runs once after that commit, and its database effects commit with its "done"."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.jobs import outbox
from platform_core.jobs.running import SKIPPED
from platform_core.jobs.schema import job_table
from platform_core.jobs.service import Jobs
from platform_core.plugin_api import ResourceChange
from tests.jobs.conftest import all_jobs, job, make_due


def test_a_rolled_back_enqueue_leaves_nothing(jobs, db, effects):
    with pytest.raises(RuntimeError), write_transaction(db) as conn:
        jobs.enqueue(conn, "test.record", {"tag": "rolled-back"})
        raise RuntimeError("the caller's write failed")
    assert all_jobs(db) == []
    assert effects("rolled-back") == 0


def test_a_committed_job_runs_inline_exactly_once(jobs, db, effects):
    with write_transaction(db) as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "once"})
        # Not yet: it runs after the commit.
        assert outbox.get(conn, job_id).state == "pending"
    done = job(jobs, job_id)
    assert (done.state, done.attempts, done.last_error) == ("done", 1, None)
    assert done.finished_at is not None and done.created_at <= done.finished_at
    assert effects("once") == 1
    # Running or sweeping it again changes nothing.
    assert jobs.run(job_id) == SKIPPED
    assert jobs.sweep() == 0
    assert effects("once") == 1


def test_a_job_without_a_transaction_writes_in_its_own_and_is_done_after(jobs, db, effects):
    """``transactional=False``: the run holds no transaction, so it can open its own write
    transaction (on SQLite the write lock a transactional job would hold), and "done" is
    written afterwards."""
    with write_transaction(db) as conn:
        job_id = jobs.enqueue(conn, "test.outside", {"tag": "outside"})
    done = job(jobs, job_id)
    assert (done.state, done.attempts, done.last_error) == ("done", 1, None)
    assert effects("outside") == 1
    assert jobs.run(job_id) == SKIPPED


def test_a_job_without_a_transaction_is_retried_then_failed(jobs, db, effects, tmp_path):
    """Its failures are retried and recorded like any job's; what it committed itself stays
    (it is not tied to "done"), so such jobs make their writes conditional."""
    flag = tmp_path / "fail"
    flag.write_text("up")
    with write_transaction(db) as conn:
        job_id = jobs.enqueue(conn, "test.outside", {"tag": "outside-2", "fail_flag": str(flag)})
    first = job(jobs, job_id)
    assert (first.state, first.attempts) == ("pending", 1)
    assert "flag is up (attempt 1)" in (first.last_error or "")
    make_due(db, job_id)
    assert jobs.sweep() == 1
    failed = job(jobs, job_id)
    assert (failed.state, failed.attempts) == ("failed", 2)
    assert effects("outside-2") == 2


def test_a_job_without_a_transaction_is_marked_running_for_a_lease(jobs, db):
    """While it runs, its row says dispatched as of the run's start, so no sweeper takes it
    over until the lease runs out (and one does if the runner dies)."""
    seen: list[tuple[str, object]] = []

    def peek(ctx):
        with pytest.raises(RuntimeError, match="without a transaction"):
            ctx.conn  # noqa: B018
        with db.connect() as conn:
            row = outbox.get(conn, ctx.job_id)
        seen.append((row.state, row.dispatched_at))

    from platform_core.jobs.definitions import JobDefinition

    jobs.definitions["test.peek"] = JobDefinition("test.peek", peek, transactional=False)
    try:
        with write_transaction(db) as conn:
            job_id = jobs.enqueue(conn, "test.peek", {})
    finally:
        del jobs.definitions["test.peek"]
    [(state, dispatched_at)] = seen
    assert state == "dispatched" and dispatched_at is not None
    assert job(jobs, job_id).state == "done"
    assert jobs.sweep() == 0


def test_jobs_of_one_transaction_are_handed_over_together(jobs, db, effects, monkeypatch):
    batches: list[list[int]] = []
    original = jobs.dispatch
    monkeypatch.setattr(
        jobs, "dispatch", lambda ids, **kw: (batches.append(list(ids)), original(ids, **kw))
    )
    with write_transaction(db) as conn:
        ids = [jobs.enqueue(conn, "test.record", {"tag": f"batch-{i}"}) for i in range(3)]
    assert batches == [ids]
    assert [effects(f"batch-{i}") for i in range(3)] == [1, 1, 1]


def test_an_idempotency_key_enqueues_once(jobs, db, effects):
    with write_transaction(db) as conn:
        first = jobs.enqueue(conn, "test.record", {"tag": "keyed"}, key="k-1")
        again = jobs.enqueue(conn, "test.record", {"tag": "keyed"}, key="k-1")
    later = None
    with write_transaction(db) as conn:
        later = jobs.enqueue(conn, "test.record", {"tag": "keyed"}, key="k-1")
    assert first is not None and again is None and later is None
    assert [r["idempotency_key"] for r in all_jobs(db)] == ["k-1"]
    assert effects("keyed") == 1


def test_an_unknown_job_name_is_refused_at_enqueue(jobs, db):
    with pytest.raises(ValueError, match=r"unknown job 'test\.nope'"), write_transaction(db) as c:
        jobs.enqueue(c, "test.nope", {})
    assert all_jobs(db) == []


@pytest.mark.parametrize(
    ("payload", "key"),
    [({"when": now_utc()}, None), ({"n": float("nan")}, None), ({}, ""), ({}, "k" * 256)],
)
def test_a_payload_that_is_not_json_or_a_bad_key_is_refused(jobs, db, payload, key):
    with pytest.raises(ValueError), write_transaction(db) as conn:
        jobs.enqueue(conn, "test.record", payload, key=key)
    assert all_jobs(db) == []


def test_a_delayed_job_waits_for_the_sweeper(jobs, db, effects):
    with write_transaction(db) as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "later"}, delay_s=60)
    pending = job(jobs, job_id)
    assert pending.state == "pending"
    assert pending.available_at - pending.created_at >= timedelta(seconds=59)
    assert jobs.sweep() == 0 and effects("later") == 0
    make_due(db, job_id)
    assert jobs.sweep() == 1
    assert job(jobs, job_id).state == "done" and effects("later") == 1


def test_a_job_enqueued_outside_a_write_transaction_is_swept(jobs, db, effects):
    with db.begin() as conn:  # commits, but runs no after-commit work
        job_id = jobs.enqueue(conn, "test.record", {"tag": "plain-begin"})
    assert job(jobs, job_id).state == "pending" and effects("plain-begin") == 0
    assert jobs.sweep() == 1
    assert job(jobs, job_id).state == "done" and effects("plain-begin") == 1


def test_the_inline_sweeper_runs_only_jobs_this_process_knows(app, jobs, db):
    with db.begin() as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "foreign"})
    # The suite's own app has no test jobs: its sweeper leaves this one alone.
    assert app.extensions["fireside"].jobs.sweep() == 0
    assert job(jobs, job_id).state == "pending"


def test_a_job_lost_by_its_runner_is_taken_over_after_the_lease(jobs, db, effects):
    with db.begin() as conn:
        job_id = jobs.enqueue(conn, "test.record", {"tag": "lost"})
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.id == job_id)
            .values(state="dispatched", dispatched_at=now_utc())
        )
    assert jobs.sweep() == 0  # still within its lease
    lease = timedelta(seconds=jobs.settings.jobs_lease_s + 1)
    with db.begin() as conn:
        conn.execute(
            sa.update(job_table)
            .where(job_table.c.id == job_id)
            .values(dispatched_at=now_utc() - lease)
        )
    assert jobs.sweep() == 1
    assert job(jobs, job_id).state == "done" and effects("lost") == 1


def test_scheduled_jobs_run_once_per_period(jobs, db, effects):
    at = 1_800_000_000.0  # a fixed instant: period 500000 of an hourly job
    first = jobs.enqueue_scheduled("test.scheduled", at=at)
    jobs._schedule_marks.clear()  # as another process (or beat) would ask
    assert jobs.enqueue_scheduled("test.scheduled", at=at + 1800) is None
    assert job(jobs, first).key == "schedule:test.scheduled:500000"
    assert job(jobs, first).state == "done"
    assert effects("scheduled:2027-01-15T08:00:00.000Z") == 1
    assert jobs.enqueue_scheduled("test.scheduled", at=at + 3600) is not None


def test_an_untriggered_resource_type_costs_no_database_work(jobs):
    class NoDatabase:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"touched the connection: {name}")

    change = ResourceChange("create", "Observation", "1", 1, now_utc(), False, "system")
    jobs.on_resource_change(NoDatabase(), change)  # type: ignore[arg-type]


def test_wildcard_and_typed_triggers(jobs_app, db):
    from platform_core.jobs.definitions import JobDefinition

    def run(ctx):
        return None

    own = Jobs(
        jobs_app.extensions["fireside"].settings,
        db,
        [
            JobDefinition("t.any", run, resource_types=frozenset({"*"})),
            JobDefinition("t.obs", run, resource_types=frozenset({"Observation"})),
        ],
    )
    with db.begin() as conn:
        for rtype in ("Observation", "Patient"):
            change = ResourceChange("update", rtype, "7", 2, now_utc(), False, "system")
            own.on_resource_change(conn, change)
    rows = all_jobs(db)
    assert sorted(r["name"] for r in rows) == ["t.any", "t.any", "t.obs"]
    assert {r["payload"] for r in rows if r["name"] == "t.obs"} == {
        '{"interaction":"update","resource_type":"Observation","resource_id":"7",'
        f'"version_id":2,"last_updated":"{_payload_time(rows)}","deleted":false,'
        '"actor":"system"}'
    }


def _payload_time(rows: list[dict]) -> str:
    import json

    return json.loads(rows[0]["payload"])["last_updated"]


def test_a_published_event_enqueues_each_subscriber_once(jobs_app, db):
    import json

    from platform_core.jobs.definitions import JobDefinition

    def run(ctx):
        return None

    own = Jobs(
        jobs_app.extensions["fireside"].settings,
        db,
        [
            JobDefinition("t.mail", run, events=frozenset({"thing.done", "thing.undone"})),
            JobDefinition("t.audit", run, events=frozenset({"thing.done"})),
            JobDefinition("t.other", run),
        ],
    )
    assert own.subscribers("thing.done") == ["t.mail", "t.audit"]
    with db.begin() as conn:
        assert own.publish(conn, "thing.done", {"id": "7"}) == 2
        assert own.publish(conn, "nobody.listens", {"id": "8"}) == 0
    rows = all_jobs(db)
    assert sorted(r["name"] for r in rows) == ["t.audit", "t.mail"]
    assert {json.loads(r["payload"])["event"] for r in rows} == {"thing.done"}
    assert {json.loads(r["payload"])["id"] for r in rows} == {"7"}


def test_an_event_published_in_a_rolled_back_transaction_enqueues_nothing(jobs_app, db):
    from platform_core.jobs.definitions import JobDefinition

    own = Jobs(
        jobs_app.extensions["fireside"].settings,
        db,
        [JobDefinition("t.mail", lambda ctx: None, events=frozenset({"thing.done"}))],
    )
    with pytest.raises(RuntimeError), db.begin() as conn:
        own.publish(conn, "thing.done", {"id": "7"})
        raise RuntimeError("the write failed")
    assert all_jobs(db) == []
