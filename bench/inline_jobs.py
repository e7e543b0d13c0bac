"""How fast inline jobs drain a backlog: ``python -m bench.inline_jobs --patients 2000``.

In-process, on a scratch PostgreSQL database that is created, migrated and dropped by the
run: creates ``--patients`` Patients (transaction Bundles of 10, their jobs run at once),
then twice enqueues again the global-search indexing job (``search.index_resource``) of
each Patient as pending, the backlog a bulk load leaves behind, and runs it:

* ``alone``: each job through ``Jobs.run``, one transaction per job (how the inline thread
  ran every job before batches);
* ``batched``: one ``Jobs.sweep()``, which hands the jobs over in batches that share a
  transaction (``running.run_batch``), as the inline thread does with what has queued up.

Prints ONE JSON object: per mode the jobs, seconds, jobs/s, this process's CPU and the
PostgreSQL backends' CPU per job, and the jobs' final states.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import orjson
import sqlalchemy as sa

from bench import harness
from bench.harness import ScratchDatabase
from bench.search import bundle

JOB = "search.index_resource"


def _backlog(core: Any, payloads: list[dict[str, Any]]) -> list[int]:
    with core.db.begin() as conn:  # not a write transaction: nothing is handed over
        ids = [core.jobs.enqueue(conn, JOB, payload) for payload in payloads]
    return [int(job_id) for job_id in ids if job_id is not None]


def _states(core: Any, ids: list[int]) -> dict[str, int]:
    table = sa.table("job_outbox", sa.column("id"), sa.column("state"))
    with core.db.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.state, sa.func.count())
            .where(table.c.id.in_(ids))
            .group_by(table.c.state)
        )
        return {state: int(n) for state, n in rows}


def _drain(core: Any, database: str, payloads: list[dict[str, Any]], mode: str) -> dict:
    ids = _backlog(core, payloads)
    pg_before = sum(harness.postgres_backends_cpu(database).values())
    cpu_before = time.process_time()
    started = time.perf_counter()
    if mode == "alone":
        for job_id in ids:
            core.jobs.run(job_id)
    else:
        core.jobs.sweep()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    pg = sum(harness.postgres_backends_cpu(database).values()) - pg_before
    return {
        "jobs": len(ids),
        "seconds": round(seconds, 2),
        "jobs_per_s": round(len(ids) / seconds, 1),
        "python_cpu_us_per_job": round(cpu / len(ids) * 1e6),
        "postgres_cpu_us_per_job": round(pg / len(ids) * 1e6),
        "states": _states(core, ids),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, then drain the backlog both ways; the result object."""
    with ScratchDatabase(args.database_url) as db:
        harness.migrate(db.url)
        extra = {"FIRESIDE_JOBS_INLINE_BACKGROUND": "false", "FIRESIDE_JOBS_INLINE_SYNC": "true"}
        os.environ.update(harness.server_env(db.url, 8000, extra))
        from platform_core.app import create_app

        app = create_app()
        core = app.extensions["fireside"]
        try:
            client = app.test_client()
            for first in range(0, args.patients, 10):
                body = orjson.dumps(bundle(first, min(10, args.patients - first)))
                response = client.post("/fhir", data=body, content_type="application/fhir+json")
                if response.status_code != 200:
                    raise RuntimeError(f"seeding failed: {response.status_code}")
            with core.db.connect() as conn:  # the payloads of the jobs the seeding ran
                texts = conn.execute(
                    sa.text("SELECT payload FROM job_outbox WHERE name = :name ORDER BY id"),
                    {"name": JOB},
                ).scalars()
                payloads = [json.loads(text) for text in texts]
            harness.log(f"seeded {len(payloads)} Patients; draining their index jobs")
            result: dict[str, Any] = {"benchmark": "inline_jobs", "job": JOB}
            for mode in ("alone", "batched"):
                result[mode] = _drain(core, db.name, payloads, mode)
                harness.log(f"{mode}: {result[mode]['jobs_per_s']} jobs/s")
            return result
        finally:
            core.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
