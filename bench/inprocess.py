"""What the in-process write profilers share (:mod:`bench.profile_create`,
:mod:`bench.profile_booking`): an app whose jobs run in the request's thread or go to a
queue nobody reads, and the measurement of one request kind: its SQL, this process's CPU
and the database backends' CPU per request, and optionally a cProfile summary."""

from __future__ import annotations

import argparse
import cProfile
import os
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from bench import harness
from bench.profile_ingest import profile_summary

REDIS = "redis://127.0.0.1:6379/0"
JOBS_MODES = ("broker", "sync")


def create_app_with_jobs(url: str, jobs: str, queue: str, extra: dict[str, str]) -> Any:
    """An app on ``url``. ``jobs``: ``sync`` runs every job in the request's thread right
    after its commit (the figures then hold all of it); ``broker`` publishes them to
    ``queue`` on Redis, which nobody reads (the web process's share when workers run
    them)."""
    env = harness.server_env(url, 8000, {**extra, "FIRESIDE_JOBS_INLINE_BACKGROUND": "false"})
    if jobs == "sync":
        env["FIRESIDE_JOBS_INLINE_SYNC"] = "true"
    else:
        env["FIRESIDE_JOBS_BROKER_URL"] = REDIS
        env["FIRESIDE_JOBS_QUEUE"] = queue
    os.environ.update(env)
    from platform_core.app import create_app

    return create_app()


def drop_queue(jobs: str, queue: str) -> None:
    """Delete the throw-away queue of a ``broker`` run."""
    if jobs != "sync":
        import redis

        redis.Redis.from_url(REDIS).delete(queue)


def measure(
    db_name: str,
    step: Callable[[int], None],
    first: int,
    count: int,
    *,
    unit: str,
    top: int | None,
) -> dict[str, Any]:
    """Run ``step(first)`` recording its SQL, then ``count`` more steps measured (under
    cProfile unless ``top`` is None); the figures per step, named ``..._per_<unit>``."""
    statements: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(" ".join(statement.split())[:120])

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        step(first)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    profiler = cProfile.Profile(time.process_time)
    pg0 = harness.postgres_backends_cpu(db_name)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if top is not None:
        profiler.enable()
    for i in range(first + 1, first + 1 + count):
        step(i)
    profiler.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    pg1 = harness.postgres_backends_cpu(db_name)
    pg = sum(v - pg0.get(k, 0.0) for k, v in pg1.items())
    result: dict[str, Any] = {
        f"python_cpu_ms_per_{unit}": round(1000 * cpu / count, 3),
        f"postgres_cpu_ms_per_{unit}": round(1000 * pg / count, 3),
        f"wall_ms_per_{unit}": round(1000 * wall / count, 3),
        f"statements_per_{unit}": len(statements),
        "statements": statements,
    }
    if top is not None:
        result.update(profile_summary(profiler, top))
    return result


def add_jobs_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--jobs`` (see :func:`create_app_with_jobs`)."""
    parser.add_argument(
        "--jobs",
        choices=JOBS_MODES,
        default=default,
        help="sync: jobs run in the request's thread; broker: to a queue nobody reads",
    )
