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
import json
import sys
import uuid
from typing import Any

from bench import harness, inprocess
from bench.harness import ScratchDatabase
from bench.profile_ingest import add_profile_arguments

WARMUP = 20


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, book and measure; the result object."""
    from bench import booking

    queue = f"fireside-profile-{uuid.uuid4().hex[:10]}"
    with ScratchDatabase(args.database_url) as db:
        harness.migrate(db.url)
        app = inprocess.create_app_with_jobs(
            db.url,
            args.jobs,
            queue,
            {
                "FIRESIDE_AUTH_REQUIRED": "true",
                "FIRESIDE_MAIL_URL": "file:///tmp/fireside-bench-mail",
            },
        )
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
            figures = inprocess.measure(
                db.name,
                book,
                WARMUP,
                args.bookings,
                unit="booking",
                top=args.top if args.profile else None,
            )
        finally:
            core.dispose()
            inprocess.drop_queue(args.jobs, queue)
    return {
        "benchmark": "profile_booking",
        "bookings": args.bookings,
        "jobs": args.jobs,
        "profiled": args.profile,
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bookings", type=int, default=300)
    inprocess.add_jobs_argument(parser, "broker")
    add_profile_arguments(parser, "the scratch database")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
