"""The outbox's SQL: every statement that reads or changes ``job_outbox``.

The service (:mod:`platform_core.jobs.service`) decides *when* each runs and in which
transaction; this module only says *how*, the same way on SQLite and PostgreSQL.

Claims are "mark these rows dispatched and tell me which": on PostgreSQL the rows are picked
with ``FOR UPDATE SKIP LOCKED``, so two sweepers never hand over the same row and nobody ever
waits for a row a worker is running (its run holds the row lock). SQLite has one writer at a
time (``BEGIN IMMEDIATE``), which gives the same guarantee.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from platform_core.db.prepared import prepared
from platform_core.fhir.instants import format_instant
from platform_core.jobs.schema import (
    DISPATCHED,
    DONE,
    ERROR_LENGTH,
    FAILED,
    PENDING,
    job_table,
)

t = job_table


@dataclass(frozen=True)
class JobRecord:
    """One outbox row, as the admin API, the CLI and tests see it."""

    id: int
    name: str
    state: str
    attempts: int
    payload: dict[str, Any]
    key: str | None
    available_at: datetime
    created_at: datetime
    dispatched_at: datetime | None
    finished_at: datetime | None
    last_error: str | None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (instants as FHIR instants in UTC)."""

        def instant(value: datetime | None) -> str | None:
            return None if value is None else format_instant(value)

        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "attempts": self.attempts,
            "payload": self.payload,
            "key": self.key,
            "available_at": instant(self.available_at),
            "created_at": instant(self.created_at),
            "dispatched_at": instant(self.dispatched_at),
            "finished_at": instant(self.finished_at),
            "last_error": self.last_error,
        }


def _record(row: Any) -> JobRecord:
    return JobRecord(
        id=row.id,
        name=row.name,
        state=row.state,
        attempts=row.attempts,
        payload=json.loads(row.payload),
        key=row.idempotency_key,
        available_at=row.available_at,
        created_at=row.created_at,
        dispatched_at=row.dispatched_at,
        finished_at=row.finished_at,
        last_error=row.last_error,
    )


def dump_payload(payload: dict[str, Any]) -> str:
    """The payload as compact JSON text; ValueError when it is not JSON-ready."""
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a job payload must be plain JSON: {exc}") from None


def truncate_error(text: str) -> str:
    """``text`` cut to what ``last_error`` keeps."""
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"


# --- writing jobs --------------------------------------------------------------------


# The statements every job goes through are built once: building one per call
# (``insert(t).values(...)``, ``select(t).where(t.c.id == job_id)``) costs SQLAlchemy more
# CPU than executing it (about 190 against 65 µs for an insert on PostgreSQL). Those of one
# job (inserts and key lookups) are also prepared: their plans never depend on the values.
_INSERT = prepared(sa.insert(t).returning(t.c.id), generic=False)
_INSERT_UNLESS_KEY_TAKEN = {
    name: prepared(
        dialect.insert(t)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(t.c.id),
        generic=False,
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_JOB_ID = sa.bindparam("job_id")
_LOCK = prepared(sa.select(t).where(t.c.id == _JOB_ID).with_for_update(), generic=False)
_MARK_RUNNING = prepared(
    sa.update(t)
    .where(t.c.id == _JOB_ID)
    .values(state=DISPATCHED, dispatched_at=sa.bindparam("now")),
    generic=False,
)
_MARK_DONE = prepared(
    sa.update(t)
    .where(t.c.id == _JOB_ID)
    .values(state=DONE, attempts=sa.bindparam("attempts"), finished_at=sa.bindparam("now")),
    generic=False,
)
_JOB_IDS = sa.bindparam("job_ids", expanding=True)
_LOCK_MANY = sa.select(t).where(t.c.id.in_(_JOB_IDS)).order_by(t.c.id).with_for_update()
_MARK_DONE_MANY = (
    sa.update(t)
    .where(t.c.id.in_(_JOB_IDS))
    .values(state=DONE, attempts=t.c.attempts + 1, finished_at=sa.bindparam("now"))
)


def insert(
    conn: Connection,
    *,
    name: str,
    payload: str,
    key: str | None,
    available_at: datetime,
    now: datetime,
    dispatched_at: datetime | None = None,
) -> int | None:
    """Add a job, pending or (with ``dispatched_at``: its hand-over follows the commit)
    dispatched; its id, or None when ``key`` is already taken."""
    values = {
        "name": name,
        "payload": payload,
        "idempotency_key": key,
        "state": PENDING if dispatched_at is None else DISPATCHED,
        "attempts": 0,
        "available_at": available_at,
        "created_at": now,
        "dispatched_at": dispatched_at,
    }
    if key is None:
        return int(conn.execute(_INSERT, values).scalar_one())
    statement = _INSERT_UNLESS_KEY_TAKEN.get(conn.dialect.name)
    if statement is None:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {conn.dialect.name}")
    found = conn.execute(statement, values).scalar_one_or_none()
    return None if found is None else int(found)


def lock(conn: Connection, job_id: int) -> Any:
    """The row of ``job_id``, locked until the transaction ends (None when absent)."""
    return conn.execute(_LOCK, {"job_id": job_id}).one_or_none()


def lock_many(conn: Connection, job_ids: Sequence[int]) -> list[Any]:
    """The rows of ``job_ids`` that exist, in id order, locked until the transaction ends."""
    return list(conn.execute(_LOCK_MANY, {"job_ids": list(job_ids)}))


def mark_running(conn: Connection, job_id: int, *, now: datetime) -> None:
    """A job without a transaction starts its run: dispatched as of now, so the sweeper
    leaves it alone for one lease (and hands it over again if the runner dies)."""
    conn.execute(_MARK_RUNNING, {"job_id": job_id, "now": now})


def mark_done(conn: Connection, job_id: int, *, attempts: int, now: datetime) -> None:
    """The job's run committed with this transaction."""
    conn.execute(_MARK_DONE, {"job_id": job_id, "attempts": attempts, "now": now})


def mark_done_many(conn: Connection, job_ids: Sequence[int], *, now: datetime) -> None:
    """Jobs whose runs committed with this transaction, each after one more attempt (their
    rows are locked by it, see :func:`lock_many`)."""
    if job_ids:
        conn.execute(_MARK_DONE_MANY, {"job_ids": list(job_ids), "now": now})


def record_failure(
    conn: Connection,
    job_id: int,
    *,
    attempts: int,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """An attempt failed: back to pending until ``retry_at``, or failed for good (None)."""
    values: dict[str, Any] = {"attempts": attempts, "last_error": truncate_error(error)}
    if retry_at is None:
        values.update(state=FAILED, finished_at=now)
    else:
        values.update(state=PENDING, available_at=retry_at, dispatched_at=None)
    conn.execute(sa.update(t).where(t.c.id == job_id).values(values))


def reset_for_retry(conn: Connection, job_id: int, *, available_at: datetime) -> None:
    """A failed job becomes pending again with its attempts reset."""
    conn.execute(
        sa.update(t)
        .where(t.c.id == job_id)
        .values(
            state=PENDING,
            attempts=0,
            available_at=available_at,
            dispatched_at=None,
            finished_at=None,
        )
    )


def purge_done(conn: Connection, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` jobs that finished (done) before ``before``; how many."""
    victims = (
        sa.select(t.c.id)
        .where(t.c.state == DONE, t.c.finished_at < before)
        .order_by(t.c.finished_at)
        .limit(limit)
    )
    return int(conn.execute(sa.delete(t).where(t.c.id.in_(victims))).rowcount or 0)


# --- handing jobs over -----------------------------------------------------------------


def _claim(conn: Connection, condition: Any, order: Any, limit: int, now: datetime) -> list[int]:
    picked = sa.select(t.c.id).where(condition).limit(limit).with_for_update(skip_locked=True)
    if order is not None:
        picked = picked.order_by(order)
    stmt = (
        sa.update(t)
        .where(t.c.id.in_(picked))
        .values(state=DISPATCHED, dispatched_at=now)
        .returning(t.c.id)
    )
    return [int(i) for i in conn.execute(stmt).scalars()]


def claim_ids(conn: Connection, ids: Sequence[int], *, now: datetime) -> list[int]:
    """Mark those of ``ids`` still pending as dispatched (fresh jobs after their commit)."""
    if not ids:
        return []
    condition = sa.and_(t.c.id.in_(ids), t.c.state == PENDING)
    return _claim(conn, condition, None, len(ids), now)


def claim_due(
    conn: Connection,
    *,
    now: datetime,
    lease_cutoff: datetime,
    limit: int,
    names: Collection[str] | None = None,
) -> list[int]:
    """Mark up to ``limit`` jobs to hand over (again) as dispatched: first those dispatched
    before ``lease_cutoff`` (their runner died or the broker lost them), then the pending
    ones that are due. ``names``: only jobs of these kinds."""
    only = t.c.name.in_(sorted(names)) if names is not None else sa.true()
    lost = _claim(
        conn,
        sa.and_(t.c.state == DISPATCHED, t.c.dispatched_at < lease_cutoff, only),
        t.c.dispatched_at,
        limit,
        now,
    )
    if len(lost) >= limit:
        return lost
    due = _claim(
        conn,
        sa.and_(t.c.state == PENDING, t.c.available_at <= now, only),
        t.c.available_at,
        limit - len(lost),
        now,
    )
    return lost + due


def any_due(
    conn: Connection,
    *,
    now: datetime,
    lease_cutoff: datetime,
    names: Collection[str] | None = None,
) -> bool:
    """Whether :func:`claim_due` would find something (a read: an idle sweeper takes no
    write lock)."""
    only = t.c.name.in_(sorted(names)) if names is not None else sa.true()
    for condition in (
        sa.and_(t.c.state == DISPATCHED, t.c.dispatched_at < lease_cutoff, only),
        sa.and_(t.c.state == PENDING, t.c.available_at <= now, only),
    ):
        if conn.execute(sa.select(t.c.id).where(condition).limit(1)).first() is not None:
            return True
    return False


def release(conn: Connection, ids: Sequence[int], *, dispatched_at: datetime) -> int:
    """Put claimed jobs that could not be handed over back to pending (those a runner has
    not picked up meanwhile)."""
    if not ids:
        return 0
    picked = (
        sa.select(t.c.id)
        .where(t.c.id.in_(ids), t.c.state == DISPATCHED, t.c.dispatched_at == dispatched_at)
        .with_for_update(skip_locked=True)
    )
    stmt = sa.update(t).where(t.c.id.in_(picked)).values(state=PENDING, dispatched_at=None)
    return int(conn.execute(stmt).rowcount or 0)


# --- reading ------------------------------------------------------------------------------


def get(conn: Connection, job_id: int) -> JobRecord | None:
    """One job, or None."""
    row = conn.execute(sa.select(t).where(t.c.id == job_id)).one_or_none()
    return None if row is None else _record(row)


def list_jobs(conn: Connection, *, state: str | None, limit: int, offset: int) -> list[JobRecord]:
    """Jobs, newest first, optionally of one state."""
    stmt = sa.select(t).order_by(t.c.id.desc()).limit(limit).offset(offset)
    if state is not None:
        stmt = stmt.where(t.c.state == state)
    return [_record(row) for row in conn.execute(stmt)]


def count_by_state(conn: Connection) -> dict[str, int]:
    """How many jobs are in each state."""
    rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state))
    return {state: int(n) for state, n in rows}


__all__ = [
    "DISPATCHED",
    "DONE",
    "FAILED",
    "PENDING",
    "JobRecord",
]
