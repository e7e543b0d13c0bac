"""What one create costs: ``python -m bench.profile_create --creates 500``.

POSTs ``--creates`` synthetic Patients (the bodies of :mod:`bench.crud`) IN-PROCESS
(Flask test client, ``POST /fhir/Patient``, authorization off as in :mod:`bench.crud`)
against a scratch PostgreSQL database that is created, migrated and dropped by the run,
after untimed warm-up creates. Prints ONE JSON object: this process's CPU and the database
backends' CPU per create, the SQL statements one create sends (in order, cut to 120
characters), and with ``--profile`` the cProfile top functions and own time per area (see
:mod:`bench.profile_ingest`).

``--jobs`` says what happens to the jobs a create sets off (the global search's indexing):
``sync`` (default) runs them in the request's thread right after its commit, so the
figures are everything a create costs the web process; ``broker`` publishes them to a
throw-away queue on Redis that nobody reads, so the figures are the web process's share
when workers index. The audit records are written at the end of each request as in the
server, and counted. CPU times are the stable measure on a shared machine; wall times are
not.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bench import inprocess
from bench.crud import patient_bodies

WARMUP = 50
FHIR_JSON = "application/fhir+json"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, create and measure; the result object."""
    with inprocess.scratch_app(args.database_url, args.jobs, {}) as (db_name, app):
        bodies = patient_bodies(WARMUP + args.creates + 1, args.seed)
        client = app.test_client()

        def create(i: int) -> None:
            resp = client.post("/fhir/Patient", data=bodies[i], headers={"Content-Type": FHIR_JSON})
            inprocess.expect_created(resp, "create")

        return inprocess.report(
            "profile_create", "create", args, db_name, create, warmup=WARMUP, count=args.creates
        )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--creates", type=int, default=500)
    inprocess.add_jobs_argument(parser, "sync")
    parser.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    return inprocess.main(argv, __doc__ or "", _arguments, run)


if __name__ == "__main__":
    sys.exit(main())
