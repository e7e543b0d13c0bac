"""What authorization adds to a FHIR read by id: ``python -m bench.auth_read``.

Target: authorizing a read with a JWT access token adds at most 0.3 ms at p50 over the same
read unauthenticated.

Each run has its own scratch database and gunicorn server (:class:`bench.harness.BenchServer`):

- ``off``: ``FIRESIDE_AUTH_REQUIRED=false``, requests carry no ``Authorization`` header;
- ``system``: ``FIRESIDE_AUTH_REQUIRED=true``, every read carries
  ``Authorization: Bearer <token>`` with scope ``system/*.rs`` (signature check, claims, the
  grant; the policy needs no SQL);
- ``patient`` (unless ``--no-patient``): as ``system``, but each read of Patient X carries a
  ``patient/*.rs`` token whose launch patient is X, which adds the compartment check (one more
  SQL query per read);
- ``user`` (unless ``--no-user``): as ``system``, but each read of Patient X carries a
  ``user/*.rs`` token of a patient account linked to X (as the authorization server issues
  to a consumer app): the account is looked up on every verification (so a suspension stops
  its tokens at once, in every process), plus the compartment check.

In each run the same ``--patients`` Patients are created (POST, with a ``system/*.cruds``
token when auth is on), then ``--clients`` threads (default 1, so that p50 is service time
rather than waiting for a core or a worker) read random ones by id for ``--warmup-seconds``
(untimed) and then ``--seconds``. Reported per run: requests/s, p50,
p90, p99 and max latency in ms, server and PostgreSQL CPU per request. ``added_p50_ms`` is
p50(system) - p50(off). Tokens are minted in this process with ``build_core`` on the run's
database (the key is stored there), so the server verifies them.

``in_process`` times, without HTTP, on the ``system`` run's database: the median cost of
``core.auth.authenticator.context("Bearer " + token)`` and of its parts (signature check,
claims, policy) in tight loops, and of ``repository.read`` with each kind of caller, also
with the token's verification before each read (``*_with_context``; the calls take turns,
so caches are as cold as in a server); ``added_*_us`` is that minus the unauthenticated
read. These figures are much less disturbed by other processes than the HTTP latencies.

Prints ONE JSON object; stops the servers and drops the databases, also on failure.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import harness
from bench.crud import patient_bodies
from bench.harness import BenchServer, log
from bench.ingest import FHIR_JSON, outcome_text
from bench.loadgen import Client, RawClient, RunResult, ThreadResult, run_clients
from platform_core.app import Core, build_core
from platform_core.config import load_settings
from platform_core.fhir.context import RequestContext
from platform_core.identity.users import create_user, link_patient

TARGET_ADDED_P50_MS = 0.3
MODES = ("off", "system", "patient", "user")
READ_SCOPE = {"system": "system/*.rs", "patient": "patient/*.rs", "user": "user/*.rs"}
WRITE_SCOPE = "system/*.cruds"


def bearer(token: str) -> bytes:
    """The header line that carries ``token``."""
    return f"Authorization: Bearer {token}\r\n".encode()


def percentiles_ms(latencies_s: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max of latencies in seconds, as milliseconds (nearest rank, as
    :func:`bench.harness.summary_ms`)."""
    if not latencies_s:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(latencies_s)

    def pct(p: float) -> float:
        index = min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))
        return round(ordered[index] * 1000, 3)

    return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": round(ordered[-1] * 1000, 3)}


def bench_core(server: BenchServer) -> Core:
    """Core services on the server's database with the server's settings (same issuer and
    audience), to mint tokens and time verification in this process."""
    assert server.database is not None
    env = harness.server_env(server.database.url, server.port, server.extra_env)
    return build_core(load_settings(environ=env))


def user_tokens(core: Core, patient_ids: list[str]) -> list[str]:
    """One patient account per Patient (linked to it, active, no password) and a
    ``user/*.rs`` token for each, carrying the account's generation like the authorization
    server's tokens."""
    tokens = []
    for pid in patient_ids:
        user = create_user(
            core.db,
            email=f"bench-{pid}@example.org",
            password=None,
            role="patient",
            fhir_user=f"Patient/{pid}",
        )
        link_patient(core.db, user.id, pid, "self")
        raw, _ = core.auth.tokens.issue(
            client_id="bench-app",
            scope=READ_SCOPE["user"],
            user_id=user.id,
            fhir_user=f"Patient/{pid}",
            generation=user.token_generation,
        )
        tokens.append(raw)
    return tokens


def create_patients(
    port: int, bodies: list[bytes], clients: int, headers: bytes
) -> tuple[RunResult, list[str]]:
    """POST each body once from ``clients`` threads; the ids in the order of ``bodies``."""
    lock = threading.Lock()
    cursor = [0]
    ids: list[str | None] = [None] * len(bodies)

    def body(_i: int, client: Client, result: ThreadResult) -> None:
        while True:
            with lock:
                n = cursor[0]
                cursor[0] += 1
            if n >= len(bodies):
                return
            started = time.perf_counter()
            try:
                resp = client.request("POST", "/fhir/Patient", bodies[n], FHIR_JSON)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - started)
            location = resp.headers.get("location", "")
            parts = location.split("/Patient/", 1)  # .../fhir/Patient/{id}/_history/{vid}
            if resp.status == 201 and len(parts) == 2:
                result.ok += 1
                ids[n] = parts[1].split("/", 1)[0]
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")

    res = run_clients(clients, lambda: RawClient(port, extra_headers=headers), body)
    return res, [pid for pid in ids if pid is not None]


def read_phase(
    port: int,
    ids: list[str],
    headers: list[bytes],
    clients: int,
    seconds: float,
    seed: int,
) -> RunResult:
    """GET random Patients by id for ``seconds``; the read of ``ids[k]`` carries
    ``headers[k]`` (the same line for all, or one token per patient)."""
    paths = [f"/fhir/Patient/{pid}" for pid in ids]
    count = len(paths)
    deadline = time.perf_counter() + seconds

    def body(i: int, client: Client, result: ThreadResult) -> None:
        assert isinstance(client, RawClient)
        rng = random.Random(seed * 1000 + i)
        randrange = rng.randrange
        latencies = result.latencies
        perf = time.perf_counter
        while True:
            k = randrange(count)
            client.extra_headers = headers[k]
            started = perf()
            if started >= deadline:
                return
            try:
                resp = client.request("GET", paths[k])
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            latencies.append(perf() - started)
            if resp.status == 200:
                result.ok += 1
            else:
                result.error(f"HTTP {resp.status}: {outcome_text(resp.body)}")

    return run_clients(clients, lambda: RawClient(port), body)


def median_us(fn: Callable[[], object], calls: int, warmup: int = 50) -> float:
    """Median wall time of ``fn()`` in microseconds over ``calls`` calls."""
    for _ in range(warmup):
        fn()
    perf = time.perf_counter_ns
    times = []
    for _ in range(calls):
        started = perf()
        fn()
        times.append(perf() - started)
    return round(statistics.median(times) / 1000, 1)


def medians_interleaved_us(fns: dict[str, Callable[[], object]], calls: int) -> dict[str, float]:
    """Median wall time of each function in microseconds, calling them in turn (so a slow
    spell of the machine hits all of them alike)."""
    for fn in fns.values():
        for _ in range(20):
            fn()
    perf = time.perf_counter_ns
    times: dict[str, list[int]] = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            started = perf()
            fn()
            times[name].append(perf() - started)
    return {name: round(statistics.median(t) / 1000, 1) for name, t in times.items()}


def in_process(core: Core, patient_id: str, verify_calls: int, read_calls: int) -> dict[str, Any]:
    """The cost of authorization without HTTP (see the module docstring)."""
    auth = core.auth
    system_token, _ = auth.tokens.issue(client_id="bench-reader", scope=READ_SCOPE["system"])
    patient_token, _ = auth.tokens.issue(
        client_id="bench-patient", scope=READ_SCOPE["patient"], patient=patient_id
    )
    system_header = "Bearer " + system_token
    patient_header = "Bearer " + patient_token
    user_header = "Bearer " + user_tokens(core, [patient_id])[0]
    system_ctx = auth.authenticator.context(system_header)
    patient_ctx = auth.authenticator.context(patient_header)
    user_ctx = auth.authenticator.context(user_header)
    internal_ctx = RequestContext(actor="anonymous", internal=True)  # what auth off uses
    repo = core.repository
    log(f"in-process: {verify_calls} verifications per kind, {read_calls} reads per caller")
    verify = {
        "authenticator_context_system_us": median_us(
            lambda: auth.authenticator.context(system_header), verify_calls
        ),
        "authenticator_context_patient_us": median_us(
            lambda: auth.authenticator.context(patient_header), verify_calls
        ),
        "authenticator_context_user_us": median_us(
            lambda: auth.authenticator.context(user_header), verify_calls
        ),
        "keys_decode_us": median_us(lambda: auth.keys.decode(system_token), verify_calls),
        "tokens_verify_us": median_us(lambda: auth.tokens.verify(system_token), verify_calls),
        "policy_check_system_us": median_us(
            lambda: repo.policy.check(system_ctx, "read", "Patient"), verify_calls
        ),
        "policy_check_patient_us": median_us(
            lambda: repo.policy.check(patient_ctx, "read", "Patient"), verify_calls
        ),
    }
    context = auth.authenticator.context
    reads = medians_interleaved_us(
        {
            "internal": lambda: repo.read(internal_ctx, "Patient", patient_id),
            "system": lambda: repo.read(system_ctx, "Patient", patient_id),
            "patient": lambda: repo.read(patient_ctx, "Patient", patient_id),
            "user": lambda: repo.read(user_ctx, "Patient", patient_id),
            "system_with_context": lambda: repo.read(context(system_header), "Patient", patient_id),
            "patient_with_context": lambda: repo.read(
                context(patient_header), "Patient", patient_id
            ),
            "user_with_context": lambda: repo.read(context(user_header), "Patient", patient_id),
        },
        read_calls,
    )
    return {
        **verify,
        "token_bytes": {"system": len(system_token), "patient": len(patient_token)},
        "repository_read_us": reads,
        # Verification between reads (cold caches) costs more than in the tight loops above.
        "added_system_us": round(reads["system_with_context"] - reads["internal"], 1),
        "added_patient_us": round(reads["patient_with_context"] - reads["internal"], 1),
        "added_user_us": round(reads["user_with_context"] - reads["internal"], 1),
    }


def one_run(
    mode: str, args: argparse.Namespace, bodies: list[bytes], round_no: int, timings: bool
) -> tuple[dict[str, Any], list[float], dict[str, Any] | None]:
    """One server, one database: create, warm up, read. Returns the summary, the read
    latencies and (when ``timings``) the in-process measurements."""
    auth_on = mode != "off"
    env = {"FIRESIDE_AUTH_REQUIRED": "true" if auth_on else "false"}
    log(f"run {mode} (round {round_no + 1}/{args.rounds})")
    with BenchServer(
        workers=args.workers, threads=args.threads, pg_url=args.database_url, extra_env=env
    ) as srv:
        core = bench_core(srv) if auth_on else None
        try:
            writer = b""
            if core is not None:
                raw, _ = core.auth.tokens.issue(client_id="bench-writer", scope=WRITE_SCOPE)
                writer = bearer(raw)
            created, ids = create_patients(srv.port, bodies, args.clients, writer)
            log(f"{mode}: created {len(ids)} patients in {created.wall_s:.1f}s")
            if created.errors or not ids:
                log("server log tail:\n" + srv.server_log(2000))
                raise RuntimeError(f"creating patients failed: {created.error_samples}")
            if core is None:
                headers = [b""] * len(ids)
            elif mode == "system":
                raw, _ = core.auth.tokens.issue(client_id="bench-reader", scope=READ_SCOPE[mode])
                headers = [bearer(raw)] * len(ids)
            elif mode == "user":  # one patient account per patient
                started = time.perf_counter()
                headers = [bearer(raw) for raw in user_tokens(core, ids)]
                log(f"{mode}: made {len(ids)} accounts in {time.perf_counter() - started:.1f}s")
            else:  # one token per patient, each reaching only its own patient
                started = time.perf_counter()
                headers = [
                    bearer(
                        core.auth.tokens.issue(
                            client_id="bench-patient", scope=READ_SCOPE[mode], patient=pid
                        )[0]
                    )
                    for pid in ids
                ]
                log(f"{mode}: minted {len(ids)} tokens in {time.perf_counter() - started:.1f}s")
            seed = args.seed + round_no
            if args.warmup_seconds > 0:
                warm = read_phase(
                    srv.port, ids, headers, args.clients, args.warmup_seconds, seed + 7
                )
                log(f"{mode}: warm-up {warm.ok} reads, {warm.errors} errors")
            meter = harness.CpuMeter(srv)
            res = read_phase(srv.port, ids, headers, args.clients, args.seconds, seed)
            cpu = meter.stop(res.client_cpu_s)
            requests = res.ok + res.errors
            summary: dict[str, Any] = {
                "seconds": round(res.wall_s, 3),
                "requests": requests,
                "ok": res.ok,
                "errors": res.errors,
                "error_samples": res.error_samples,
                "per_s": round(res.ok / res.wall_s, 1) if res.wall_s else 0.0,
                "latency_ms": percentiles_ms(res.latencies),
                "server_cpu_per_request_us": round(1e6 * cpu["server_cpu_s"] / max(1, requests)),
                "postgres_cpu_per_request_us": round(
                    1e6 * cpu["postgres_cpu_s"] / max(1, requests)
                ),
                **cpu,
                "patients": len(ids),
                "create_seconds": round(created.wall_s, 2),
            }
            log(
                f"{mode}: {summary['per_s']}/s, p50 {summary['latency_ms']['p50']} ms, "
                f"{res.errors} errors"
            )
            if res.errors:
                log("server log tail:\n" + srv.server_log(2000))
            timed = None
            if timings and core is not None:
                timed = in_process(core, ids[0], args.verify_calls, args.read_calls)
            return summary, res.latencies, timed
        finally:
            if core is not None:
                core.dispose()


def _pooled(runs: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    """One mode's runs (rounds) together: sums, and latency over every request."""
    if len(runs) == 1:
        return runs[0]
    seconds = sum(r["seconds"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    ok = sum(r["ok"] for r in runs)
    server = sum(r["server_cpu_s"] for r in runs)
    pg = sum(r["postgres_cpu_s"] for r in runs)
    return {
        "seconds": round(seconds, 3),
        "requests": requests,
        "ok": ok,
        "errors": sum(r["errors"] for r in runs),
        "error_samples": [s for r in runs for s in r["error_samples"]][:5],
        "per_s": round(ok / seconds, 1) if seconds else 0.0,
        "latency_ms": percentiles_ms(latencies),
        "server_cpu_per_request_us": round(1e6 * server / max(1, requests)),
        "postgres_cpu_per_request_us": round(1e6 * pg / max(1, requests)),
        "other_cpu_s": round(sum(r["other_cpu_s"] for r in runs), 2),
        "p50_ms_by_round": [r["latency_ms"]["p50"] for r in runs],
        "per_s_by_round": [r["per_s"] for r in runs],
        "rounds": runs,
    }


def _diff(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return None if a is None or b is None else round(a - b, digits)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the result object."""
    skipped = {m for m, skip in (("patient", args.no_patient), ("user", args.no_user)) if skip}
    modes = [m for m in MODES if m not in skipped]
    bodies = patient_bodies(args.patients, args.seed)
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    latencies: dict[str, list[float]] = {m: [] for m in modes}
    timings: dict[str, Any] | None = None
    for round_no in range(args.rounds):
        # Odd rounds go in reverse order, so a machine that gets busier or quieter over
        # the whole run does not favour one mode.
        order = modes if round_no % 2 == 0 else list(reversed(modes))
        for mode in order:
            summary, lat, timed = one_run(
                mode, args, bodies, round_no, timings is None and mode == "system"
            )
            runs[mode].append(summary)
            latencies[mode].extend(lat)
            timings = timings or timed
    pooled = {m: _pooled(runs[m], latencies[m]) for m in modes}
    off, system = pooled["off"], pooled["system"]
    added = _diff(system["latency_ms"]["p50"], off["latency_ms"]["p50"])
    result: dict[str, Any] = {
        "benchmark": "auth_read",
        "target_added_p50_ms": TARGET_ADDED_P50_MS,
        "added_p50_ms": added,
        "meets_target": added is not None and added <= TARGET_ADDED_P50_MS,
        "added_p90_ms": _diff(system["latency_ms"]["p90"], off["latency_ms"]["p90"]),
        "added_server_cpu_per_request_us": system["server_cpu_per_request_us"]
        - off["server_cpu_per_request_us"],
    }
    for mode in ("patient", "user"):
        if mode not in pooled:
            continue
        tokens = pooled[mode]
        result[f"added_p50_ms_{mode}"] = _diff(
            tokens["latency_ms"]["p50"], off["latency_ms"]["p50"]
        )
        result[f"added_server_cpu_per_request_us_{mode}"] = (
            tokens["server_cpu_per_request_us"] - off["server_cpu_per_request_us"]
        )
        result[f"added_postgres_cpu_per_request_us_{mode}"] = (
            tokens["postgres_cpu_per_request_us"] - off["postgres_cpu_per_request_us"]
        )
    result.update(
        {
            "clients": args.clients,
            "workers": args.workers,
            "threads_per_worker": args.threads,
            "seconds_per_run": args.seconds,
            "rounds": args.rounds,
            "patients": args.patients,
            "runs": pooled,
            "in_process": timings,
        }
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--patients", type=int, default=300, help="Patients created per run")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="concurrent client threads. 1: p50 is service time. On a 2-core machine 2 already "
        "keep every core busy (client, workers, PostgreSQL), so added CPU shows up about twice "
        "in the latency; more than --workers also queues (a sync worker serves one connection)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="timed reads per run")
    parser.add_argument("--warmup-seconds", type=float, default=2.0, help="untimed reads first")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every run this often")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument(
        "--no-patient", action="store_true", help="skip the run with patient/*.rs tokens"
    )
    parser.add_argument(
        "--no-user", action="store_true", help="skip the run with patient accounts' tokens"
    )
    parser.add_argument(
        "--verify-calls", type=int, default=5000, help="in-process calls per verification kind"
    )
    parser.add_argument(
        "--read-calls", type=int, default=1000, help="in-process repository reads per caller"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to create the scratch databases on "
        f"(default {harness.DEFAULT_PG}; its database part is ignored)",
    )
    args = parser.parse_args(argv)
    if min(args.patients, args.clients, args.workers, args.threads, args.rounds) < 1:
        parser.error("--patients, --clients, --workers, --threads and --rounds must be >= 1")
    if args.seconds <= 0 or args.verify_calls < 1 or args.read_calls < 1:
        parser.error("--seconds, --verify-calls and --read-calls must be positive")
    harness.exit_on_sigterm()
    result = run(args)
    print(json.dumps(result))
    return 1 if any(r["errors"] for r in result["runs"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
