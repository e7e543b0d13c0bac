"""What one search costs, on a loaded database: ``python -m bench.profile_search --db NAME``.

Runs searches of one kind IN-PROCESS (Flask test client, one after the other) against a
database that ``python -m bench.search --keep-db NAME`` loaded, after untimed warm-up
searches (templates built, connections open, statements prepared). Prints ONE JSON object:
this process's CPU and the database backends' CPU per search, and with ``--profile`` the
cProfile top functions and own time per area (see :mod:`bench.profile_ingest`).

One client and no HTTP server: the figures are the cost of a search itself, without the
contention of ``bench.search``'s eight clients on two cores, so two versions of the code can
be compared a few minutes apart on a machine whose speed drifts. The kinds and their values
are those of :mod:`bench.search` (``--kind birthdate``: a birth year; ``name``: a 3-5 letter
prefix of a name the database holds; ...).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import random
import sys
import time
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench import harness, inprocess
from bench.profile_ingest import profile_summary
from bench.search import Pools, query_makers

WARMUP = 50


def _pools(dsn: str) -> Pools:
    """Values to draw from, as :func:`bench.search.sample_pools` takes them."""
    with psycopg.connect(dsn) as conn:
        families = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT value_exact FROM fhir_ix_string"
                " WHERE resource_type = 'Patient' AND param = 'family' LIMIT 200"
            )
        ]
        patients = conn.execute(
            "SELECT id FROM fhir_resource WHERE resource_type = 'Patient' LIMIT 2000"
        ).fetchall()
        identifiers = conn.execute(
            "SELECT code FROM fhir_ix_token"
            " WHERE resource_type = 'Patient' AND param = 'identifier' LIMIT 2000"
        ).fetchall()
    return Pools(
        patient_ids=[row[0] for row in patients],
        identifiers=[row[0] for row in identifiers],
        families=families,
        patients=len(patients),
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Warm up, search and measure; the result object."""
    server = make_url(args.database_url or harness.DEFAULT_PG)
    url = server.set(database=args.db).render_as_string(hide_password=False)
    dsn = server.set(drivername="postgresql", database=args.db)
    dsn = dsn.render_as_string(hide_password=False)
    makers = query_makers(_pools(dsn))
    if args.kind not in makers:
        raise SystemExit(f"--kind must be one of {', '.join(sorted(makers))}")
    rng = random.Random(args.seed)
    paths = [makers[args.kind](rng) for _ in range(WARMUP + args.searches)]
    os.environ.update(harness.server_env(url, 8000))
    from platform_core.app import create_app

    app = create_app()
    client = app.test_client()
    try:
        for path in paths[:WARMUP]:
            resp = client.get(path)
            if resp.status_code != 200:
                raise RuntimeError(f"{path}: {resp.status_code} {resp.data[:300]!r}")
        profiler = cProfile.Profile(time.process_time)
        pg0 = harness.postgres_backends_cpu(args.db)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if args.profile:
            profiler.enable()
        entries = 0
        for path in paths[WARMUP:]:
            entries += client.get(path).data.count(b'"fullUrl"')
        profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        pg1 = harness.postgres_backends_cpu(args.db)
    finally:
        app.extensions["fireside"].dispose()
    pg = sum(v - pg0.get(k, 0.0) for k, v in pg1.items())
    n = args.searches
    result: dict[str, Any] = {
        "benchmark": "profile_search",
        "database": args.db,
        "kind": args.kind,
        "example": paths[WARMUP],
        "searches": n,
        "entries_per_search": round(entries / n, 1),
        "profiled": args.profile,
        "python_cpu_us_per_search": round(1e6 * cpu / n),
        "postgres_cpu_us_per_search": round(1e6 * pg / n),
        "wall_us_per_search": round(1e6 * wall / n),
    }
    if args.profile:
        result.update(profile_summary(profiler, args.top))
    return result


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, help="a database bench.search --keep-db loaded")
    parser.add_argument("--kind", default="birthdate", help="a query kind of bench.search")
    parser.add_argument("--searches", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    return inprocess.main(argv, __doc__ or "", _arguments, run, database="--db")


if __name__ == "__main__":
    sys.exit(main())
