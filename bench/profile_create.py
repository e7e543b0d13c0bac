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
import json
import sys
import uuid
from typing import Any

from bench import harness, inprocess
from bench.crud import patient_bodies
from bench.harness import ScratchDatabase
from bench.profile_ingest import add_profile_arguments

WARMUP = 50
FHIR_JSON = "application/fhir+json"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, create and measure; the result object."""
    queue = f"fireside-profile-{uuid.uuid4().hex[:10]}"
    with ScratchDatabase(args.database_url) as db:
        harness.migrate(db.url)
        app = inprocess.create_app_with_jobs(db.url, args.jobs, queue, {})
        core = app.extensions["fireside"]
        try:
            bodies = patient_bodies(WARMUP + args.creates + 1, args.seed)
            client = app.test_client()

            def create(i: int) -> None:
                resp = client.post(
                    "/fhir/Patient", data=bodies[i], headers={"Content-Type": FHIR_JSON}
                )
                if resp.status_code != 201:
                    raise RuntimeError(f"create failed: {resp.status_code} {resp.data[:500]!r}")

            for i in range(WARMUP):
                create(i)
            figures = inprocess.measure(
                db.name,
                create,
                WARMUP,
                args.creates,
                unit="create",
                top=args.top if args.profile else None,
            )
        finally:
            core.dispose()
            inprocess.drop_queue(args.jobs, queue)
    return {
        "benchmark": "profile_create",
        "creates": args.creates,
        "jobs": args.jobs,
        "profiled": args.profile,
        **figures,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=500)
    inprocess.add_jobs_argument(parser, "sync")
    parser.add_argument("--seed", type=int, default=0)
    add_profile_arguments(parser, "the scratch database")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
