"""Token issue throughput: ``python -m bench.auth --clients 8 --seconds 15``.

SMART Backend Services tokens (client credentials with an RS384 ``private_key_jwt``
assertion) issued through the real HTTP stack: a scratch PostgreSQL database and a gunicorn
server (see :mod:`bench.harness`), a registered asymmetric client, and ``--clients`` threads
POSTing to ``/oauth2/token``. Every request carries a fresh assertion (its own ``jti``, so
each one goes through the replay table, as in production); the assertions are signed before
the timed phase so that the load generator's RSA signing does not compete with the server.
Every 200 must hold an ``access_token``.

Prints ONE JSON object: tokens/s, latency p50/p95/p99/max, errors (with samples), and the CPU
seconds of client, server and PostgreSQL. Stops the server and drops the database, also on
failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import RSAKey

from bench import harness
from bench.harness import BenchServer, log
from bench.loadgen import CLIENTS, Client, RunResult, ThreadResult, run_clients
from platform_core.oauth.clients import register_client

FORM = "application/x-www-form-urlencoded"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 280
"""Assertions are signed up front and must still be valid (at most five minutes) when sent."""


def register_backend(database_url: str, key: RSAKey) -> str:
    """Register the benchmark's backend client straight in the scratch database."""
    engine = sa.create_engine(database_url, poolclass=sa.NullPool)
    try:
        client = register_client(
            engine,
            name="bench backend",
            kind="confidential-asymmetric",
            scope="system/*.rs",
            jwks={"keys": [key.as_dict(private=False)]},
        ).client
    finally:
        engine.dispose()
    return client.client_id


def token_bodies(client_id: str, key: RSAKey, token_url: str, count: int) -> list[bytes]:
    """``count`` token-request bodies, each with its own signed assertion."""
    now = int(time.time())
    header = {"alg": "RS384", "typ": "JWT", "kid": key.kid}
    bodies = []
    for _ in range(count):
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now + ASSERTION_LIFETIME_S,
            "jti": uuid.uuid4().hex,
        }
        signed = jwt.encode(header, claims, key, algorithms=["RS384"])
        form = {
            "grant_type": "client_credentials",
            "scope": "system/*.rs",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        }
        bodies.append(urlencode(form).encode())
    return bodies


def issue_phase(
    port: int, bodies: list[bytes], clients: int, seconds: float, kind: str, *, warmup: bool = False
) -> RunResult:
    """POST token requests from ``clients`` threads until ``seconds`` pass or the bodies run
    out (an error in the timed phase, where ``--pool`` was too small; the end of a warm-up)."""
    lock = threading.Lock()
    cursor = [0]
    deadline = time.perf_counter() + seconds

    def body(_i: int, client: Client, result: ThreadResult) -> None:
        while time.perf_counter() < deadline:
            with lock:
                n = cursor[0]
                cursor[0] += 1
            if n >= len(bodies):
                if not warmup:
                    result.error("ran out of pre-signed assertions: raise --pool")
                return
            started = time.perf_counter()
            try:
                resp = client.request("POST", "/oauth2/token", bodies[n], FORM)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - started)
            if resp.status == 200 and b'"access_token"' in resp.body:
                result.ok += 1
            else:
                result.error(f"HTTP {resp.status}: {resp.body[:300]!r}")

    return run_clients(clients, lambda: CLIENTS[kind](port), body)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark; returns the result object."""
    key = RSAKey.generate_key(2048, parameters={"kid": "bench"}, private=True)
    with BenchServer(workers=args.workers, threads=args.threads, pg_url=args.database_url) as srv:
        assert srv.database is not None
        client_id = register_backend(srv.database.url, key)
        token_url = f"http://127.0.0.1:{srv.port}/oauth2/token"
        started = time.perf_counter()
        warm = token_bodies(client_id, key, token_url, args.warmup_requests)
        bodies = token_bodies(client_id, key, token_url, args.pool)
        log(f"signed {len(warm) + len(bodies)} assertions in {time.perf_counter() - started:.1f}s")
        if warm:
            done = issue_phase(srv.port, warm, args.clients, 60.0, args.client, warmup=True)
            log(f"warm-up: {done.ok} tokens, {done.errors} errors {done.error_samples}")
        meter = harness.CpuMeter(srv)
        res = issue_phase(srv.port, bodies, args.clients, args.seconds, args.client)
        cpu = meter.stop(res.client_cpu_s)
        if res.errors:
            log("server log tail:\n" + srv.server_log(2000))
    per_s = round(res.ok / res.wall_s, 1) if res.wall_s else 0.0
    log(f"client credentials: {per_s} tokens/s, {res.errors} errors")
    return {
        "benchmark": "auth",
        "grant": "client_credentials (private_key_jwt RS384)",
        "clients": args.clients,
        "workers": args.workers,
        "threads_per_worker": args.threads,
        "client": args.client,
        "seconds": round(res.wall_s, 3),
        "tokens": res.ok,
        "tokens_per_s": per_s,
        "latency_ms": harness.summary_ms(res.latencies),
        "errors": res.errors,
        "error_samples": res.error_samples,
        **cpu,
        "server_cpu_per_token_ms": round(1000 * cpu["server_cpu_s"] / max(1, res.ok), 3),
        "postgres_cpu_per_token_ms": round(1000 * cpu["postgres_cpu_s"] / max(1, res.ok), 3),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the timed phase")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--warmup-requests", type=int, default=300, help="untimed tokens first")
    parser.add_argument(
        "--pool", type=int, default=12_000, help="assertions signed up front for the timed phase"
    )
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw")
    parser.add_argument("--database-url", help="a local PostgreSQL server (default 127.0.0.1)")
    args = parser.parse_args(argv)
    if args.seconds > ASSERTION_LIFETIME_S - 60:
        parser.error(f"--seconds must stay under {ASSERTION_LIFETIME_S - 60}: assertions expire")
    harness.exit_on_sigterm()
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
