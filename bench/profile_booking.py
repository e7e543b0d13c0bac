"""What one booking costs: ``python -m bench.profile_booking --bookings 300``.

Books ``--bookings`` slots IN-PROCESS (Flask test client, ``POST /api/scheduling/bookings``
with a patient's token, auth on) against a scratch PostgreSQL database that is created,
migrated and dropped by the run, after untimed warm-up bookings. Prints ONE JSON object:
this process's CPU and the database backends' CPU per booking, the SQL statements one
booking sends (in order, cut to 120 characters), and with ``--profile`` the cProfile top
functions and own time per area (see :mod:`bench.profile_ingest`).

``--jobs`` says what happens to the jobs a booking sets off: ``broker`` (default) publishes
them to a throw-away queue on Redis and nobody runs them, so the figures are the web
process's share in the production shape; ``sync`` runs them in the booking's thread right
after its commit, so the figures include every job (events, notifications, e-mails written
as files). CPU times are the stable measure on a shared machine; wall times are not.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa

from bench import harness
from bench.harness import ScratchDatabase
from bench.profile_ingest import add_profile_arguments, profile_summary

WARMUP = 20


def _app(url: str, jobs: str, queue: str) -> Any:
    env = harness.server_env(
        url,
        8000,
        {
            "FIRESIDE_AUTH_REQUIRED": "true",
            "FIRESIDE_MAIL_URL": "file:///tmp/fireside-bench-mail",
            "FIRESIDE_JOBS_INLINE_BACKGROUND": "false",
        },
    )
    if jobs == "sync":
        env["FIRESIDE_JOBS_INLINE_SYNC"] = "true"
    else:
        env["FIRESIDE_JOBS_BROKER_URL"] = "redis://127.0.0.1:6379/0"
        env["FIRESIDE_JOBS_QUEUE"] = queue
    os.environ.update(env)
    from platform_core.app import create_app

    return create_app()


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, book and measure; the result object."""
    from bench import booking

    queue = f"fireside-profile-{uuid.uuid4().hex[:10]}"
    with ScratchDatabase(args.database_url) as db:
        harness.migrate(db.url)
        app = _app(db.url, args.jobs, queue)
        core = app.extensions["fireside"]
        try:
            total = WARMUP + args.bookings + 1
            practitioners = booking.seed_practitioners(core, max(2, total // 300 + 1))
            from plugins.scheduling.generation import generate

            for pid in practitioners:
                with core.repository.transaction() as conn:
                    generate(core, conn, pid)
            patients = booking.tokens_for(core, booking.seed_patients(core, 10))
            slots = booking.pick_slots(core, total)
            client = app.test_client()

            def book(i: int) -> None:
                patient, token = patients[i % len(patients)]
                resp = client.post(
                    "/api/scheduling/bookings",
                    json={"slot": slots[i], "patient": patient},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"booking failed: {resp.status_code} {resp.data[:500]!r}")

            for i in range(WARMUP):
                book(i)
            statements: list[str] = []

            def record(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
                statements.append(" ".join(statement.split())[:120])

            sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
            book(WARMUP)
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
            profiler = cProfile.Profile(time.process_time)
            pg0 = harness.postgres_backends_cpu(db.name)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            if args.profile:
                profiler.enable()
            for i in range(WARMUP + 1, total):
                book(i)
            profiler.disable()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            pg1 = harness.postgres_backends_cpu(db.name)
        finally:
            core.dispose()
            if args.jobs != "sync":
                import redis

                redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(queue)
    pg = sum(v - pg0.get(k, 0.0) for k, v in pg1.items())
    n = args.bookings
    result: dict[str, Any] = {
        "benchmark": "profile_booking",
        "bookings": n,
        "jobs": args.jobs,
        "profiled": args.profile,
        "python_cpu_ms_per_booking": round(1000 * cpu / n, 2),
        "postgres_cpu_ms_per_booking": round(1000 * pg / n, 2),
        "wall_ms_per_booking": round(1000 * wall / n, 2),
        "statements_per_booking": len(statements),
        "statements": statements,
    }
    if args.profile:
        result.update(profile_summary(profiler, args.top))
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--jobs", choices=("broker", "sync"), default="broker")
    add_profile_arguments(parser, "the scratch database")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
