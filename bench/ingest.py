"""Transaction-Bundle ingest throughput: ``python -m bench.ingest --bundles 40 --clients 4``.

Creates a scratch PostgreSQL database, migrates it, starts gunicorn with ``--workers`` worker
processes on a free loopback port, POSTs ``--bundles`` synthetic patient transaction Bundles
(100-300 entries each, see :mod:`bench.synthetic`) to ``/fhir`` from ``--clients`` threads,
and prints ONE JSON object: resources/s, bundles/s, bundle latency percentiles, errors (with
the first OperationOutcome texts), worker count, and the CPU used by the client, the server
and PostgreSQL. Then stops the server and drops the database, also on failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import orjson

from bench import harness, synthetic
from bench.harness import BenchServer, log
from bench.loadgen import CLIENTS, Client, ThreadResult, run_clients

FHIR_JSON = "application/fhir+json"


def outcome_text(body: bytes) -> str:
    """The diagnostics of an OperationOutcome body, or the body itself."""
    try:
        resource = orjson.loads(body)
        issues = resource.get("issue", [])
        texts = [i.get("diagnostics") or i.get("details", {}).get("text", "") for i in issues]
        return " | ".join(t for t in texts if t) or body.decode("utf-8", "replace")
    except (orjson.JSONDecodeError, AttributeError):
        return body.decode("utf-8", "replace")


def build_bundles(count: int, seed: int) -> list[tuple[bytes, int]]:
    """Serialized bundles and their entry counts."""
    return [(orjson.dumps(b), len(b["entry"])) for b in synthetic.patient_bundles(count, seed=seed)]


def post_bundles(
    port: int, bundles: list[tuple[bytes, int]], clients: int, client_kind: str
) -> Any:
    """POST every bundle once, ``clients`` at a time; returns the :class:`RunResult`."""
    lock = threading.Lock()
    queue = list(reversed(bundles))

    def body(_i: int, client: Client, result: ThreadResult) -> None:
        while True:
            with lock:
                if not queue:
                    return
                data, entries = queue.pop()
            started = time.perf_counter()
            try:
                resp = client.request("POST", "/fhir", data, FHIR_JSON)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - started)
            if resp.status == 200:
                result.ok += 1
                result.items += entries
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")

    return run_clients(clients, lambda: CLIENTS[client_kind](port), body)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the result object."""
    log(f"generating {args.warmup} + {args.bundles} bundles (seed {args.seed})")
    warmup = build_bundles(args.warmup, args.seed + 1_000_000)
    bundles = build_bundles(args.bundles, args.seed)
    with BenchServer(workers=args.workers, threads=args.threads, pg_url=args.database_url) as srv:
        if warmup:
            warm = post_bundles(srv.port, warmup, args.clients, args.client)
            log(f"warm-up: {warm.ok} bundles ok, {warm.errors} errors")
        meter = harness.CpuMeter(srv)
        res = post_bundles(srv.port, bundles, args.clients, args.client)
        cpu = meter.stop(res.client_cpu_s)
        if res.errors:
            log("server log tail:\n" + srv.server_log(2000))
    resources = res.items
    return {
        "benchmark": "ingest",
        "bundles": args.bundles,
        "bundles_ok": res.ok,
        "resources": resources,
        "clients": args.clients,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "client": args.client,
        "seconds": round(res.wall_s, 3),
        "resources_per_s": round(resources / res.wall_s, 1),
        "bundles_per_s": round(res.ok / res.wall_s, 2),
        "bundle_latency_ms": harness.summary_ms(res.latencies),
        "errors": res.errors,
        "error_samples": res.error_samples,
        **cpu,
        "client_cpu_per_resource_us": round(1e6 * res.client_cpu_s / max(1, resources), 1),
        "warmup_bundles": args.warmup,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundles", type=int, default=40, help="bundles to time")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--warmup", type=int, default=4, help="untimed bundles sent first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the scratch database on "
        f"(default {harness.DEFAULT_PG}; its database part is ignored)",
    )
    args = parser.parse_args(argv)
    if args.bundles < 1 or args.clients < 1 or args.workers < 1:
        parser.error("--bundles, --clients and --workers must be at least 1")
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result))
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
