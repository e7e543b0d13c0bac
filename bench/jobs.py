"""Jobs outbox throughput: ``python -m bench.jobs --jobs 20000 --e2e-jobs 5000``.

On a scratch PostgreSQL database and a fresh queue on Redis (``--broker``):

1. dispatch: ``--jobs`` pending jobs are written to the outbox (in transactions of 1,000,
   without an after-commit hand-over, as if the broker had been down), then one
   ``Jobs.sweep()`` hands them all to the broker; jobs/s = jobs / sweep time (target:
   1,000/s). The queue length is checked against the count.
2. end to end: one ``python manage.py worker`` (``--concurrency`` pool processes) runs a
   trivial job (``bench.noop``); ``--e2e-jobs`` jobs are written and swept, and the clock
   stops when the last one is done in the outbox.
3. latency: ``--latency-jobs`` jobs, one at a time, enqueued in a write transaction
   (published after its commit) until a worker marks each done: p50/p95/max ms.

Prints ONE JSON object; kills the worker, deletes the queue and drops the database, also on
failure. This module is also the plugin that registers ``bench.noop`` in the worker
(``--plugin bench.jobs``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import redis
import sqlalchemy as sa

from platform_core import hookimpl
from platform_core.jobs import JobContext, JobDefinition

NOOP = "bench.noop"
ENQUEUE_CHUNK = 1000


def _noop(ctx: JobContext) -> None:
    return None


@hookimpl
def register_jobs() -> list[JobDefinition]:
    """The benchmark's trivial job."""
    return [JobDefinition(NOOP, _noop)]


def _count(db: sa.Engine, state: str) -> int:
    from platform_core.jobs.schema import job_table as t

    with db.connect() as conn:
        query = sa.select(sa.func.count()).select_from(t).where(t.c.state == state)
        return int(conn.execute(query).scalar_one())


def _write_pending(core: Any, count: int) -> float:
    """``count`` pending jobs, not handed over; returns the seconds it took."""
    started = time.perf_counter()
    for start in range(0, count, ENQUEUE_CHUNK):
        with core.db.begin() as conn:  # no after-commit hand-over: the sweeper's work
            for i in range(start, min(start + ENQUEUE_CHUNK, count)):
                core.jobs.enqueue(conn, NOOP, {"n": i})
    return time.perf_counter() - started


def _wait_all_done(db: sa.Engine, count: int, timeout: float, poll_s: float = 0.05) -> float:
    started = time.perf_counter()
    while _count(db, "done") < count:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"only {_count(db, 'done')}/{count} jobs done after {timeout}s")
        time.sleep(poll_s)
    return time.perf_counter()


def _start_worker(database_url: str, broker: str, queue: str, concurrency: int) -> Any:
    from bench.harness import REPO_ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRESIDE_")}
    env.update(
        FIRESIDE_DATABASE_URL=database_url,
        FIRESIDE_JOBS_BROKER_URL=broker,
        FIRESIDE_JOBS_QUEUE=queue,
        FIRESIDE_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "manage.py", "worker", "--plugin", "bench.jobs"]
    command += ["--concurrency", str(concurrency)]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.harness import ScratchDatabase, log, migrate
    from platform_core.app import build_core
    from platform_core.config import load_settings
    from platform_core.db.engine import write_transaction

    queue = f"fireside-bench-{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(args.broker)
    worker = None
    with ScratchDatabase(args.database_url) as scratch:
        migrate(scratch.url)
        settings = {
            "database_url": scratch.url,
            "jobs_broker_url": args.broker,
            "jobs_queue": queue,
            "log_level": "WARNING",
        }
        core = build_core(load_settings(settings), [sys.modules[__name__]])
        try:
            log(f"writing {args.jobs} pending jobs")
            write_s = _write_pending(core, args.jobs)
            log("sweeping them to the broker")
            started = time.perf_counter()
            handed = core.jobs.sweep()
            sweep_s = time.perf_counter() - started
            queued = int(client.llen(queue))
            dispatch = {
                "jobs": args.jobs,
                "handed_over": handed,
                "queued": queued,
                "enqueue_per_s": round(args.jobs / write_s),
                "sweep_s": round(sweep_s, 3),
                "jobs_per_s": round(handed / sweep_s),
                "target_per_s": 1000,
                "meets_target": handed == args.jobs == queued and handed / sweep_s >= 1000,
            }
            log(f"dispatch: {dispatch}")
            client.delete(queue)
            with core.db.begin() as conn:
                conn.execute(sa.text("DELETE FROM job_outbox"))

            worker = _start_worker(scratch.url, args.broker, queue, args.concurrency)
            with write_transaction(core.db) as conn:  # warm-up: the worker is up
                core.jobs.enqueue(conn, NOOP, {"warm": True})
            _wait_all_done(core.db, 1, 120)
            with core.db.begin() as conn:
                conn.execute(sa.text("DELETE FROM job_outbox"))

            log(f"end to end: {args.e2e_jobs} jobs through one worker")
            started = time.perf_counter()
            _write_pending(core, args.e2e_jobs)
            core.jobs.sweep()
            finished = _wait_all_done(core.db, args.e2e_jobs, 600)
            e2e_s = finished - started
            end_to_end = {
                "jobs": args.e2e_jobs,
                "worker_concurrency": args.concurrency,
                "seconds": round(e2e_s, 3),
                "jobs_per_s": round(args.e2e_jobs / e2e_s),
            }
            log(f"end to end: {end_to_end}")
            with core.db.begin() as conn:
                conn.execute(sa.text("DELETE FROM job_outbox"))

            latencies = []
            for i in range(args.latency_jobs):
                started = time.perf_counter()
                with write_transaction(core.db) as conn:
                    core.jobs.enqueue(conn, NOOP, {"latency": i})
                _wait_all_done(core.db, i + 1, 60, poll_s=0.002)
                latencies.append((time.perf_counter() - started) * 1000)
            latencies.sort()
            latency = {
                "jobs": len(latencies),
                "p50_ms": round(statistics.median(latencies), 1),
                "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 1),
                "max_ms": round(latencies[-1], 1),
                "note": "commit to done as seen by polling the outbox every 2 ms",
            }
        finally:
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(30)
            client.delete(queue)
            core.dispose()
    return {
        "benchmark": "jobs",
        "database": "postgresql",
        "broker": args.broker,
        "dispatch": dispatch,
        "end_to_end": end_to_end,
        "latency": latency,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    from bench import harness

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs for the sweep phase")
    parser.add_argument("--e2e-jobs", type=int, default=5_000, help="jobs through a worker")
    parser.add_argument("--latency-jobs", type=int, default=50, help="one-at-a-time jobs")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--database-url",
        help=f"PostgreSQL server for the scratch database (default {harness.DEFAULT_PG})",
    )
    args = parser.parse_args(argv)
    if min(args.jobs, args.e2e_jobs, args.latency_jobs, args.concurrency) < 1:
        parser.error("counts must be at least 1")
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result))
    return 0 if result["dispatch"]["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
