"""The audit writer's rounds: each writes what was buffered when it began, in batches."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.audit.log import AuditLog
from platform_core.audit.records import AuditRecord


def _read(entity: str) -> AuditRecord:
    return AuditRecord(kind="rest", action="R", outcome="0", subtype="read", entity=entity)


def _stored_events(db: sa.Engine) -> int:
    with db.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM fhir_resource WHERE resource_type = 'AuditEvent'")
        ).scalar_one()


@pytest.fixture
def audit_log(app: Flask) -> Iterator[AuditLog]:
    """A writer without its thread: the test drives its rounds."""
    log = AuditLog(app.extensions["fireside"].repository, batch_size=3, background=False)
    yield log
    log.close()


def test_a_round_leaves_what_arrives_during_its_writes_for_the_next(
    audit_log: AuditLog, db: sa.Engine
) -> None:
    batches: list[int] = []
    write = audit_log._write

    def write_while_requests_arrive(batch: list[AuditRecord]) -> None:
        batches.append(len(batch))
        write(batch)
        audit_log.record(_read("Patient/late"))  # a request answered meanwhile

    audit_log._write = write_while_requests_arrive  # type: ignore[method-assign]
    for n in range(7):
        audit_log.record(_read(f"Patient/p{n}"))

    assert audit_log._drain(audit_log.pending()) == 7
    assert batches == [3, 3, 1]
    assert audit_log.pending() == 3  # one per write, for the next round
    assert _stored_events(db) == 7

    audit_log._write = write  # type: ignore[method-assign]
    assert audit_log.flush() == 3
    assert audit_log.pending() == 0
    assert _stored_events(db) == 10


def test_close_writes_everything_left(audit_log: AuditLog, db: sa.Engine) -> None:
    for n in range(5):
        audit_log.record(_read(f"Patient/p{n}"))
    audit_log.close()
    assert audit_log.pending() == 0
    assert _stored_events(db) == 5


def test_the_writer_thread_writes_each_interval(app: Flask, db: sa.Engine) -> None:
    log = AuditLog(app.extensions["fireside"].repository, interval=0.05)
    try:
        for n in range(5):
            log.record(_read(f"Patient/p{n}"))
        deadline = time.monotonic() + 10
        while _stored_events(db) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _stored_events(db) == 5
        assert log.pending() == 0
    finally:
        log.close()
