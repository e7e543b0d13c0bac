"""Jobs that run inside the triggering write (``JobDefinition.in_write``): no outbox row,
their effects commit or roll back with the write, and an exception fails the write."""

from __future__ import annotations

import pytest

from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.jobs.definitions import JobContext, JobDefinition
from platform_core.jobs.service import Jobs
from platform_core.plugin_api import ResourceChange
from tests.jobs.conftest import all_jobs
from tests.jobs.job_plugin import effects, record_effect


def _jobs(jobs_app, db, *definitions: JobDefinition) -> Jobs:
    own = Jobs(jobs_app.extensions["fireside"].settings, db, definitions)
    own.bind(jobs_app.extensions["fireside"])
    return own


def _change(resource_id: str = "7") -> ResourceChange:
    return ResourceChange("create", "Observation", resource_id, 1, now_utc(), False, "system")


def test_an_in_write_job_runs_in_the_write_and_leaves_no_outbox_row(jobs_app, db):
    seen: list[JobContext] = []

    def run(ctx: JobContext) -> None:
        seen.append(ctx)
        record_effect(ctx, f"in-write:{ctx.payload['resource_id']}")

    own = _jobs(
        jobs_app,
        db,
        JobDefinition("t.in", run, resource_types=frozenset({"Observation"}), in_write=True),
    )
    with db.begin() as conn:
        own.on_resource_change(conn, _change("7"))
        assert seen and seen[0].conn is conn and seen[0].job_id is None
        assert seen[0].attempt == 1 and seen[0].payload["interaction"] == "create"
    assert all_jobs(db) == []
    assert effects(db, "in-write:7") == 1


def test_an_in_write_job_rolls_back_with_its_write(jobs_app, db):
    own = _jobs(
        jobs_app,
        db,
        JobDefinition(
            "t.in",
            lambda ctx: record_effect(ctx, "in-write:rolled-back"),
            resource_types=frozenset({"Observation"}),
            in_write=True,
        ),
    )
    with pytest.raises(RuntimeError), db.begin() as conn:
        own.on_resource_change(conn, _change())
        raise RuntimeError("the write failed after its listeners ran")
    assert effects(db, "in-write:rolled-back") == 0
    assert all_jobs(db) == []


def test_a_failing_in_write_job_fails_the_write(jobs_app, db):
    def run(ctx: JobContext) -> None:
        raise ValueError("the index is broken")

    own = _jobs(
        jobs_app,
        db,
        JobDefinition("t.in", run, resource_types=frozenset({"Observation"}), in_write=True),
    )
    with pytest.raises(ValueError, match="index is broken"), db.begin() as conn:
        own.on_resource_change(conn, _change())
    assert all_jobs(db) == []


def test_the_in_write_question_is_asked_once_and_a_failing_answer_means_the_outbox(jobs_app, db):
    asked: list[object] = []

    def yes(core: object) -> bool:
        asked.append(core)
        return True

    def broken(core: object) -> bool:
        raise RuntimeError("no answer")

    ran: list[str] = []
    own = _jobs(
        jobs_app,
        db,
        JobDefinition(
            "t.asked",
            lambda ctx: ran.append(ctx.payload["resource_id"]),
            resource_types=frozenset({"Observation"}),
            in_write=yes,
        ),
        JobDefinition(
            "t.broken", lambda ctx: None, resource_types=frozenset({"Observation"}), in_write=broken
        ),
    )
    with db.begin() as conn:
        for rid in ("1", "2", "3"):
            own.on_resource_change(conn, _change(rid))
    assert asked == [jobs_app.extensions["fireside"]]
    assert ran == ["1", "2", "3"]
    assert sorted(r["name"] for r in all_jobs(db)) == ["t.broken"] * 3


def test_an_unbound_service_sends_in_write_jobs_through_the_outbox(jobs_app, db):
    own = Jobs(
        jobs_app.extensions["fireside"].settings,
        db,
        [JobDefinition("t.in", lambda ctx: None, resource_types=frozenset({"*"}), in_write=True)],
    )
    with db.begin() as conn:
        own.on_resource_change(conn, _change())
    assert [r["name"] for r in all_jobs(db)] == ["t.in"]


def test_in_write_needs_resource_types_or_events(jobs_app, db):
    with pytest.raises(ValueError, match="in_write needs resource_types or events"):
        Jobs(
            jobs_app.extensions["fireside"].settings,
            db,
            [JobDefinition("t.in", lambda ctx: None, in_write=True)],
        )


def _subscriber(run, **options) -> JobDefinition:
    return JobDefinition("t.sub", run, events=frozenset({"thing.done"}), in_write=True, **options)


def test_an_in_write_subscriber_runs_in_the_publishers_transaction(jobs_app, db):
    seen: list[JobContext] = []

    def run(ctx: JobContext) -> None:
        seen.append(ctx)
        record_effect(ctx, f"sub:{ctx.payload['thing']}")

    own = _jobs(jobs_app, db, _subscriber(run))
    with db.begin() as conn:
        assert own.publish(conn, "thing.done", {"thing": "a"}) == 1
        assert seen and seen[0].conn is conn and seen[0].job_id is None
        assert seen[0].payload == {"thing": "a", "event": "thing.done"}
    assert all_jobs(db) == []
    assert effects(db, "sub:a") == 1
    with pytest.raises(RuntimeError), db.begin() as conn:
        own.publish(conn, "thing.done", {"thing": "b"})
        raise RuntimeError("the publisher failed after publishing")
    assert effects(db, "sub:b") == 0 and all_jobs(db) == []


def test_a_failing_in_write_subscriber_is_rolled_back_alone_and_enqueued(jobs_app, db):
    def run(ctx: JobContext) -> None:
        record_effect(ctx, "sub:half-done")
        raise ValueError("the subscriber is broken")

    own = _jobs(jobs_app, db, _subscriber(run))
    with db.begin() as conn:
        core = jobs_app.extensions["fireside"]
        record_effect(JobContext(None, "publisher", {}, 1, conn, core), "publisher")
        assert own.publish(conn, "thing.done", {"thing": "c"}) == 1
    assert effects(db, "publisher") == 1  # the publisher committed
    assert effects(db, "sub:half-done") == 0  # the subscriber's effects rolled back
    [job] = all_jobs(db)
    assert job["name"] == "t.sub" and job["state"] == "pending"


def test_in_write_needs_a_transactional_job(jobs_app, db):
    with pytest.raises(ValueError, match="transactional job"):
        Jobs(
            jobs_app.extensions["fireside"].settings,
            db,
            [
                JobDefinition(
                    "t.in",
                    lambda ctx: None,
                    resource_types=frozenset({"Patient"}),
                    transactional=False,
                    in_write=True,
                )
            ],
        )


def test_the_jobs_a_failed_subscriber_enqueued_are_not_handed_over(jobs_app, db, monkeypatch):
    """What the savepoint rolled back is not dispatched after the commit: only the
    publisher's own job and the failed subscriber, enqueued in its place."""

    def run(ctx: JobContext) -> None:
        own.enqueue(ctx.conn, "t.after", {"from": "subscriber"})
        raise ValueError("the subscriber is broken")

    own = _jobs(jobs_app, db, _subscriber(run), JobDefinition("t.after", lambda ctx: None))
    handed: list[int] = []
    monkeypatch.setattr(own, "dispatch", lambda ids, **kw: handed.extend(ids))
    with write_transaction(db) as conn:
        first = own.enqueue(conn, "t.after", {"from": "publisher"})
        own.publish(conn, "thing.done", {"thing": "d"})
    rows = {r["id"]: r["name"] for r in all_jobs(db)}
    assert sorted(rows.values()) == ["t.after", "t.sub"]
    assert sorted(handed) == sorted(rows) and first in handed
