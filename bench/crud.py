"""Create and read-by-id throughput: ``python -m bench.crud --clients 8 --seconds 20``.

On a scratch PostgreSQL database and a gunicorn server (as :mod:`bench.ingest`), two phases:

1. creates: ``--clients`` threads POST synthetic Patients to ``/fhir/Patient`` for
   ``--seconds`` (after an untimed warm-up);
2. reads: the same number of threads GET random Patients created in phase 1 by id, for
   ``--seconds``, or exactly ``--reads N`` requests when given (the memory check).

The server's memory (VmRSS and PSS of the gunicorn master and workers, summed) is read
before and after the reads and sampled during them. Prints ONE JSON object; stops the server
and drops the database, also on failure.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from bench import harness, synthetic
from bench.harness import BenchServer, ProcStats, log
from bench.ingest import FHIR_JSON, outcome_text
from bench.loadgen import CLIENTS, Client, RunResult, ThreadResult, run_clients

READS_TIME_LIMIT_S = 1800.0
"""The longest a ``--reads N`` phase may run; it stops there with what it has."""


def patient_bodies(count: int, seed: int) -> list[bytes]:
    """``count`` distinct serialized Patients."""
    return [orjson.dumps(synthetic.patient_resource(f"{seed}-{i}")) for i in range(count)]


def create_phase(
    port: int, bodies: list[bytes], clients: int, seconds: float, kind: str
) -> tuple[RunResult, list[str]]:
    """POST Patients from ``clients`` threads until ``seconds`` have passed."""
    lock = threading.Lock()
    cursor = [0]
    deadline = time.perf_counter() + seconds
    limit = len(bodies) * 4  # a hard bound on requests, whatever the speed

    def body(_i: int, client: Client, result: ThreadResult) -> None:
        while time.perf_counter() < deadline:
            with lock:
                n = cursor[0]
                cursor[0] += 1
            if n >= limit:
                return
            started = time.perf_counter()
            try:
                resp = client.request("POST", "/fhir/Patient", bodies[n % len(bodies)], FHIR_JSON)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - started)
            if resp.status == 201:
                result.ok += 1
                location = resp.headers.get("location", "")
                # .../fhir/Patient/{id}/_history/{vid}
                parts = location.split("/Patient/", 1)
                if len(parts) == 2:
                    result.extra.append(parts[1].split("/", 1)[0])
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")

    res = run_clients(clients, lambda: CLIENTS[kind](port), body)
    ids = [pid for t in res.threads for pid in t.extra]
    return res, ids


def read_phase(
    port: int,
    ids: list[str],
    clients: int,
    seconds: float,
    reads: int | None,
    kind: str,
    seed: int,
) -> RunResult:
    """GET random Patients by id, for ``seconds`` or exactly ``reads`` requests in all."""
    paths = [f"/fhir/Patient/{pid}" for pid in ids]
    if reads is None:
        deadline = time.perf_counter() + seconds
        quota = [10**9] * clients  # bounded by the deadline
    else:
        deadline = time.perf_counter() + READS_TIME_LIMIT_S  # a bound even for --reads
        quota = [reads // clients + (1 if i < reads % clients else 0) for i in range(clients)]

    def body(i: int, client: Client, result: ThreadResult) -> None:
        rng = random.Random(seed * 1000 + i)
        choice = rng.choice
        latencies = result.latencies
        perf = time.perf_counter
        for _ in range(quota[i]):
            started = perf()
            if started >= deadline:
                return
            try:
                resp = client.request("GET", choice(paths))
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            latencies.append(perf() - started)
            if resp.status == 200:
                result.ok += 1
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")

    return run_clients(clients, lambda: CLIENTS[kind](port), body)


WRK_SCRIPT = r"""
local ids = {}
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("seed", counter)
end
init = function(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  math.randomseed(tonumber(args[2]) * 7919 + (seed or 0))
end
request = function()
  return wrk.format("GET", "/fhir/Patient/" .. ids[math.random(#ids)],
                    {["Accept"] = "application/fhir+json"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"errors_status":%d,"errors_connect":%d,' ..
    '"errors_read":%d,"errors_write":%d,"errors_timeout":%d,' ..
    '"p50":%d,"p95":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
"""


def wrk_read_phase(
    port: int, ids: list[str], clients: int, seconds: float, seed: int
) -> tuple[RunResult, dict[str, Any]]:
    """The read phase with ``wrk`` (2 threads, ``clients`` connections) and a Lua script."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk); use --read-client raw")
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp, "reads.lua")
        script.write_text(WRK_SCRIPT)
        id_file = Path(tmp, "ids.txt")
        id_file.write_text("\n".join(ids) + "\n")
        cmd = [
            wrk,
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/",
            "--",
            str(id_file),
            str(seed),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    data = json.loads(line[len("WRKJSON ") :])
    errors = sum(v for k, v in data.items() if k.startswith("errors_"))
    result = ThreadResult(ok=data["requests"] - data["errors_status"], errors=errors)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    run = RunResult([result], data["duration_us"] / 1e6 or wall, cpu)
    latency = {k: round(data[k] / 1000, 2) for k in ("p50", "p95", "p99", "max")}
    return run, {
        "latency_ms": latency,
        "wrk_errors": {k: v for k, v in data.items() if k.startswith("errors_")},
    }


def _memory(stats: ProcStats) -> dict[str, Any]:
    return {"rss_kb": stats.rss_kb, "pss_kb": stats.pss_kb, "processes": len(stats.pids)}


class MemorySampler:
    """Samples the server's summed RSS every ``interval`` seconds in a thread."""

    def __init__(self, server: BenchServer, interval: float) -> None:
        self.server = server
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.server.stats().rss_kb)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _phase_summary(res: RunResult, meter: harness.CpuMeter) -> dict[str, Any]:
    return {
        "seconds": round(res.wall_s, 3),
        "requests": res.ok + res.errors,
        "ok": res.ok,
        "per_s": round(res.ok / res.wall_s, 1) if res.wall_s else 0.0,
        "latency_ms": harness.summary_ms(res.latencies),
        "errors": res.errors,
        "error_samples": res.error_samples,
        **meter.stop(res.client_cpu_s),
        "client_cpu_per_request_us": round(1e6 * res.client_cpu_s / max(1, res.ok + res.errors)),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the result object."""
    pool = args.create_pool
    reader = args.client if args.read_client == "same" else args.read_client
    args.read_client = reader
    log(f"generating {pool} patients")
    bodies = patient_bodies(pool, args.seed)
    warm_bodies = patient_bodies(200, args.seed + 1)
    with BenchServer(workers=args.workers, threads=args.threads, pg_url=args.database_url) as srv:
        if args.warmup_seconds > 0:
            warm, _ = create_phase(
                srv.port, warm_bodies, args.clients, args.warmup_seconds, args.client
            )
            log(f"warm-up: {warm.ok} creates, {warm.errors} errors")

        meter = harness.CpuMeter(srv)
        created, ids = create_phase(srv.port, bodies, args.clients, args.seconds, args.client)
        creates = _phase_summary(created, meter)
        creates["ids_collected"] = len(ids)
        log(f"creates: {creates['per_s']}/s, {creates['errors']} errors")
        if not ids:
            raise RuntimeError(f"no Patient was created:\n{created.error_samples}")

        meter = harness.CpuMeter(srv)
        before = meter.server0
        interval = max(1.0, min(10.0, (args.reads or 0) / 20_000 or args.seconds / 10))
        wrk_extra: dict[str, Any] | None = None
        with MemorySampler(srv, interval) as sampler:
            if args.read_client == "wrk":
                read, wrk_extra = wrk_read_phase(
                    srv.port, ids, args.clients, args.seconds, args.seed
                )
            else:
                read = read_phase(
                    srv.port, ids, args.clients, args.seconds, args.reads, reader, args.seed
                )
        reads = _phase_summary(read, meter)
        after = meter.server1 or srv.stats()
        reads["read_client"] = args.read_client
        if wrk_extra:
            reads.update(wrk_extra)
        log(f"reads: {reads['per_s']}/s, {reads['errors']} errors")
        if created.errors or read.errors:
            log("server log tail:\n" + srv.server_log(2000))
    samples = sampler.samples
    return {
        "benchmark": "crud",
        "clients": args.clients,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "client": args.client,
        "creates": creates,
        "reads": reads,
        "server_memory": {
            "before_reads": _memory(before),
            "after_reads": _memory(after),
            "rss_growth_kb": after.rss_kb - before.rss_kb,
            "during_reads_rss_kb": {
                "samples": len(samples),
                "min": min(samples, default=None),
                "max": max(samples, default=None),
                "interval_s": interval,
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--reads", type=int, help="exactly this many reads instead of --seconds of reads"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="untimed creates first")
    parser.add_argument(
        "--create-pool", type=int, default=40_000, help="distinct Patients generated up front"
    )
    parser.add_argument(
        "--read-client",
        choices=("same", "wrk", *sorted(CLIENTS)),
        default="same",
        help="client of the read phase: same as --client, or wrk (needs the wrk package)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the scratch database on "
        f"(default {harness.DEFAULT_PG}; its database part is ignored)",
    )
    args = parser.parse_args(argv)
    if args.clients < 1 or args.workers < 1 or args.seconds <= 0:
        parser.error("--clients and --workers must be at least 1, --seconds positive")
    if args.reads is not None and args.reads < 1:
        parser.error("--reads must be at least 1")
    if args.reads is not None and args.read_client == "wrk":
        parser.error("--reads N needs a Python read client (wrk runs for --seconds)")
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result))
    return 1 if result["creates"]["errors"] or result["reads"]["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
