"""What the in-process profilers share (:mod:`bench.profile_create`,
:mod:`bench.profile_booking`, :mod:`bench.profile_search`): a scratch app whose jobs run in
the request's thread or go to a queue nobody reads, the measurement of one request kind
(its SQL, this process's CPU and the database backends' CPU per request, optionally a
cProfile summary), and the command line."""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from bench import harness
from bench.harness import ScratchDatabase
from bench.profile_ingest import add_profile_arguments, profile_summary

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


@contextmanager
def scratch_app(
    database_url: str | None, jobs: str, extra: dict[str, str]
) -> Iterator[tuple[str, Any]]:
    """A migrated scratch database and an app on it (see :func:`create_app_with_jobs`):
    ``(database name, app)``. The app is disposed, the queue deleted and the database
    dropped afterwards, also on failure."""
    queue = f"fireside-profile-{uuid.uuid4().hex[:10]}"
    with ScratchDatabase(database_url) as db:
        harness.migrate(db.url)
        app = create_app_with_jobs(db.url, jobs, queue, extra)
        try:
            yield db.name, app
        finally:
            app.extensions["fireside"].dispose()
            if jobs != "sync":
                import redis

                redis.Redis.from_url(REDIS).delete(queue)


def measure(
    db_name: str,
    step: Callable[[int], None],
    *,
    warmup: int,
    count: int,
    unit: str,
    top: int | None,
) -> dict[str, Any]:
    """Run ``warmup`` unmeasured steps, one more recording its SQL, then ``count`` steps
    measured (under cProfile unless ``top`` is None); the figures per step, named
    ``..._per_<unit>``. Step ``i`` gets its index, from 0."""
    for i in range(warmup):
        step(i)
    first = warmup
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


def expect_created(resp: Any, what: str) -> None:
    """Stop the run when a measured request did not answer 201."""
    if resp.status_code != 201:
        raise RuntimeError(f"{what} failed: {resp.status_code} {resp.data[:500]!r}")


def report(
    benchmark: str,
    unit: str,
    args: argparse.Namespace,
    db_name: str,
    step: Callable[[int], None],
    *,
    warmup: int,
    count: int,
) -> dict[str, Any]:
    """The JSON object of a write profiler: what it ran (``--jobs``, ``--profile``) and
    :func:`measure`'s figures for ``count`` steps after ``warmup``."""
    figures = measure(
        db_name,
        step,
        warmup=warmup,
        count=count,
        unit=unit,
        top=args.top if args.profile else None,
    )
    return {
        "benchmark": benchmark,
        f"{unit}s": count,
        "jobs": args.jobs,
        "profiled": args.profile,
        **figures,
    }


def add_jobs_argument(parser: argparse.ArgumentParser, default: str) -> None:
    """``--jobs`` (see :func:`create_app_with_jobs`)."""
    parser.add_argument(
        "--jobs",
        choices=JOBS_MODES,
        default=default,
        help="sync: jobs run in the request's thread; broker: to a queue nobody reads",
    )


def main(
    argv: list[str] | None,
    doc: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    *,
    database: str = "the scratch database",
) -> int:
    """The command line of an in-process profiler: its own arguments, then ``--profile``,
    ``--top`` and ``--database-url``; prints ONE JSON object."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_arguments(parser)
    add_profile_arguments(parser, database)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    print(json.dumps(run(args)))
    return 0
