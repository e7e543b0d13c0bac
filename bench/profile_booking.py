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
import sys
from typing import Any

from bench import inprocess

WARMUP = 20
MAIL_URL = "file:///tmp/fireside-bench-mail"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, book and measure; the result object."""
    from bench import booking
    from plugins.scheduling.generation import generate

    extra = {"FIRESIDE_AUTH_REQUIRED": "true", "FIRESIDE_MAIL_URL": MAIL_URL}
    with inprocess.scratch_app(args.database_url, args.jobs, extra) as (db_name, app):
        core = app.extensions["fireside"]
        total = WARMUP + args.bookings + 1
        for pid in booking.seed_practitioners(core, max(2, total // 300 + 1)):
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
            inprocess.expect_created(resp, "booking")

        return inprocess.report(
            "profile_booking", "booking", args, db_name, book, warmup=WARMUP, count=args.bookings
        )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bookings", type=int, default=300)
    inprocess.add_jobs_argument(parser, "broker")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    return inprocess.main(argv, __doc__ or "", _arguments, run)


if __name__ == "__main__":
    sys.exit(main())
