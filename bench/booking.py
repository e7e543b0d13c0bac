"""Booking under load and slot generation: ``python -m bench.booking``.

On a scratch PostgreSQL database (see :mod:`bench.harness`):

1. generation: ``--practitioners`` verified practitioners each publish one weekly rule
   (Mon-Fri 09:00-17:00 Africa/Lagos, 30-minute slots). ``--processes`` processes (each
   its own core, as Celery workers would be) start and warm up first (core built, a Slot
   validated and indexed, a connection open: what a running worker has done long ago);
   then the clock runs while they generate every practitioner's Slots for a
   ``--horizon-days`` horizon, one transaction per practitioner, handed out one at a time
   (target: 1,000 practitioners over 30 days in under 60 s).
2. booking, once per ``--jobs`` mode, each on a fresh gunicorn server (``--workers`` x
   ``--threads``) over the same database:

   * ``celery``, the production shape: jobs are published to a fresh queue on Redis
     (``--broker``) and run by ``python manage.py worker --concurrency
     --worker-concurrency --pool --worker-pool`` on this same machine (``--worker-nice``:
     at a lower CPU priority, so that a burst of bookings is answered first and its jobs
     catch up after);
   * ``inline``, the embedded default: jobs run in a thread of the web process that
     committed them.

   ``--clients`` patients, each with their own token, first book ``--warmup`` slots
   (untimed: every process past its first requests, their jobs done), then the next
   ``--slots`` free slots through ``POST /api/scheduling/bookings``. Each client walks the
   slot list from its own starting point, so neighbours collide at the edges; a 409 sends
   it to the next slot.
   The clock stops when every slot is booked (target: at least 200 bookings/s and zero
   double bookings). Then the jobs the bookings set off (appointment events, notification
   fan-out, e-mail deliveries written as files, reminders scheduled) are waited for:
   ``jobs_drained_s`` counts from the end of the clock. CPU is counted for every process
   (server, Celery worker, PostgreSQL backends, load generator, anything else), for the
   clock alone and until the jobs are done, per booking.
3. checks, per mode: exactly one Appointment per booked slot, every slot row ``busy`` with
   its appointment, no failed job, and no 5xx.

Prints ONE JSON object; stops the servers and the worker, deletes the queue and drops the
database, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa

from bench import harness
from bench.harness import BenchServer, ScratchDatabase, log
from bench.loadgen import Client, RawClient, ThreadResult, run_clients
from platform_core.app import build_core
from platform_core.config import load_settings
from platform_core.fhir.context import RequestContext
from platform_core.identity.users import create_user, link_patient, verify_practitioner

RULE = {
    "service": {"code": "general-consult", "display": "General consultation"},
    "time_zone": "Africa/Lagos",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:00",
    "end": "17:00",
    "slot_minutes": 30,
    "modes": ["in-person", "video"],
    "price": {"amount": 1500000, "currency": "NGN"},
}
JSON = "application/json"
PATIENT_SCOPE = "openid fhirUser user/*.cruds"
MODES = ("celery", "inline")
DRAIN_TIMEOUT_S = 900.0
LATER = ("notifications.reminder", "scheduling.expire_holds")
"""Jobs the bookings schedule for later (hours ahead), not waited for."""


def _core(url: str, horizon_days: int, port: int = 0, extra: dict[str, str] | None = None) -> Any:
    """Core services on the scratch database; with a server's ``port`` its tokens are that
    server's own (same issuer). ``bench.jobs`` is registered for the worker's warm-up job."""
    from bench import jobs as bench_jobs

    env = harness.server_env(
        url, port, {"FIRESIDE_SCHEDULING_HORIZON_DAYS": str(horizon_days), **(extra or {})}
    )
    env["FIRESIDE_JOBS_INLINE_BACKGROUND"] = "false"
    return build_core(load_settings(environ=env), plugins=[bench_jobs])


def seed_practitioners(core: Any, count: int) -> list[str]:
    """``count`` verified practitioners, each with one rule (not generated yet)."""
    from platform_core.fhir.instants import now_utc
    from plugins.scheduling import fhir
    from plugins.scheduling.availability import RULES, _values
    from plugins.scheduling.rules import parse_rule

    ids = [str(uuid.uuid4()) for _ in range(count)]
    items = [
        ({"resourceType": "Practitioner", "name": [{"family": f"Doc{i}"}]}, pid)
        for i, pid in enumerate(ids)
    ]
    ctx = RequestContext.system("bench")
    with core.repository.transaction() as conn:
        for start in range(0, count, 500):
            core.repository.create_many(ctx, conn, items[start : start + 500], validate=False)
    now = now_utc()
    for pid in ids:
        user = create_user(
            core.db,
            email=f"doc-{pid}@bench.example",
            password=None,
            role="practitioner",
            fhir_user=f"Practitioner/{pid}",
        )
        verify_practitioner(core.db, user.id)
    schedules = [
        (
            fhir.schedule(pid, pid, None, "general-consult", "General consultation"),
            str(uuid.uuid4()),
        )
        for pid in ids
    ]
    with core.repository.transaction() as conn:
        for start in range(0, count, 500):
            core.repository.create_many(ctx, conn, schedules[start : start + 500], validate=False)
        rows = []
        for pid, (_, schedule_id) in zip(ids, schedules, strict=True):
            rule = parse_rule(RULE, pid, now.date())
            rows.append(
                {
                    "id": str(uuid.uuid4()),
                    "schedule_id": schedule_id,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                    **_values(rule),
                }
            )
        conn.execute(sa.insert(RULES), rows)
    return ids


# --- generation ----------------------------------------------------------------------------
_worker_core: Any = None


def _warm_worker(url: str, horizon: int, ready: Any) -> None:
    """Pool initializer: build the core and do once what a long-running worker did long ago
    (load the validation and search tables, open a connection); then wait for the start."""
    from datetime import timedelta

    from platform_core.fhir.instants import now_utc
    from platform_core.fhir.search.extract import index_rows
    from plugins.scheduling import fhir

    global _worker_core
    _worker_core = _core(url, horizon)
    start = now_utc()
    sample = fhir.slot("warm-up", start, start + timedelta(minutes=30), "x", "X", "free")
    _worker_core.repository.validate(sample, expect_type="Slot")
    registry = _worker_core.repository.registry()
    index_rows("Slot", 0, sample, registry.indexed_parameters("Slot"), "http://warm.up")
    with _worker_core.db.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    ready.wait()


def _generate_one(practitioner: str) -> int:
    from plugins.scheduling.generation import generate

    with _worker_core.repository.transaction() as conn:
        return generate(_worker_core, conn, practitioner).created


def generation_phase(url: str, ids: list[str], processes: int, horizon: int) -> dict[str, Any]:
    database = sa.make_url(url).database or ""
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    warm_started = time.perf_counter()
    with context.Pool(processes, initializer=_warm_worker, initargs=(url, horizon, ready)) as pool:
        ready.wait(timeout=300)
        warm_up = time.perf_counter() - warm_started
        pids = [p.pid for p in pool._pool]  # type: ignore[attr-defined]
        cpu0 = _cpu_of(pids, database)
        started = time.perf_counter()
        created = sum(pool.imap_unordered(_generate_one, ids, chunksize=4))
        wall = time.perf_counter() - started
        cpu1 = _cpu_of(pids, database)
    python, postgres, machine = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    return {
        "practitioners": len(ids),
        "horizon_days": horizon,
        "processes": processes,
        "warm_up_seconds": round(warm_up, 2),
        "slots_created": created,
        "seconds": round(wall, 2),
        "slots_per_s": round(created / wall),
        "python_cpu_s": round(python, 1),
        "postgres_cpu_s": round(postgres, 1),
        "cpu_us_per_slot": round((python + postgres) * 1e6 / created, 1) if created else None,
        "machine_busy_pct": round(100 * machine / (wall * (os.cpu_count() or 1)), 1),
        "target_seconds": 60,
    }


def _cpu_of(pids: list[int], database: str) -> tuple[float, float, float]:
    """CPU seconds so far of the generating processes, of the database's PostgreSQL
    backends, and of the whole machine."""
    python = sum(harness.tree_stats(pid).cpu_s for pid in pids)
    postgres = sum(harness.postgres_backends_cpu(database).values())
    return python, postgres, harness.machine_cpu()[0] / harness.CLK_TCK


# --- booking -------------------------------------------------------------------------------
def seed_patients(core: Any, count: int) -> list[tuple[str, str]]:
    """``count`` patients with accounts; (patient id, user id) each."""
    ctx = RequestContext.system("bench")
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with core.repository.transaction() as conn:
        core.repository.create_many(
            ctx,
            conn,
            [
                ({"resourceType": "Patient", "name": [{"family": f"P{i}"}]}, p)
                for i, p in enumerate(ids)
            ],
            validate=False,
        )
    out = []
    for pid in ids:
        user = create_user(
            core.db,
            email=f"pat-{pid}@bench.example",
            password=None,
            role="patient",
            fhir_user=f"Patient/{pid}",
        )
        link_patient(core.db, user.id, pid, "self")
        out.append((pid, user.id))
    return out


def tokens_for(core: Any, patients: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(patient id, access token) each, from ``core``'s issuer."""
    return [
        (
            pid,
            core.auth.tokens.issue(
                scope=PATIENT_SCOPE, client_id="bench", user_id=user, fhir_user=f"Patient/{pid}"
            )[0],
        )
        for pid, user in patients
    ]


def pick_slots(core: Any, count: int) -> list[str]:
    """``count`` free slots spread over the practitioners, soonest first."""
    from plugins.scheduling.schema import SlotRow

    slots = SlotRow.__table__
    with core.db.connect() as conn:
        return list(
            conn.execute(
                sa.select(slots.c.slot_id)
                .where(slots.c.status == "free")
                .order_by(slots.c.start, slots.c.practitioner_id)
                .limit(count)
            ).scalars()
        )


def booking_phase(port: int, slots: list[str], patients: list[tuple[str, str]]) -> Any:
    """Every client books until every slot is taken; the run and what it saw."""
    taken: set[str] = set()
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    stride = max(1, len(slots) // len(patients))

    def body(i: int, client: Client, result: ThreadResult) -> None:
        patient, token = patients[i]
        assert isinstance(client, RawClient)
        client.extra_headers = f"Authorization: Bearer {token}\r\n".encode()
        for k in range(len(slots)):
            slot = slots[(i * stride + k) % len(slots)]
            with lock:
                if slot in taken:
                    continue
            payload = json.dumps({"slot": slot, "patient": patient}).encode()
            started = time.perf_counter()
            try:
                resp = client.request("POST", "/api/scheduling/bookings", payload, JSON)
            except OSError as exc:
                result.error(f"connection error: {exc!r}")
                client.close()
                continue
            result.latencies.append(time.perf_counter() - started)
            with lock:
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                if resp.status in (201, 409):
                    taken.add(slot)
            if resp.status == 201:
                result.ok += 1
                result.extra.append(slot)
            elif resp.status != 409:
                result.error(f"HTTP {resp.status}: {resp.body[:300]!r}")

    res = run_clients(len(patients), lambda: RawClient(port), body)
    won = [s for t in res.threads for s in t.extra]
    return res, {
        "clients": len(patients),
        "slots": len(slots),
        "bookings": res.ok,
        "seconds": round(res.wall_s, 2),
        "bookings_per_s": round(res.ok / res.wall_s, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": harness.summary_ms(res.latencies),
        "errors": res.errors,
        "error_samples": res.error_samples,
        "double_booked_in_answers": len(won) - len(set(won)),
        "target_bookings_per_s": 200,
    }


def _jobs_left(core: Any) -> tuple[int, int]:
    """(jobs not finished, failed jobs), leaving out the jobs scheduled for later
    (reminders, hold expiry): not the bookings' work now, and no beat hands them over."""
    from platform_core.jobs.schema import job_table as t

    with core.db.connect() as conn:
        left = conn.execute(
            sa.select(sa.func.count()).where(
                t.c.state.in_(("pending", "dispatched")), t.c.name.not_in(LATER)
            )
        ).scalar_one()
        failed = conn.execute(sa.select(sa.func.count()).where(t.c.state == "failed")).scalar_one()
    return int(left), int(failed)


def _wait_jobs(core: Any, timeout: float = DRAIN_TIMEOUT_S) -> float:
    """Seconds until no due job is left unfinished."""
    started = time.perf_counter()
    while _jobs_left(core)[0]:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"jobs not done after {timeout}s: {_jobs_left(core)}")
        time.sleep(0.1)
    return time.perf_counter() - started


def _job_counts(core: Any) -> dict[str, int]:
    from platform_core.jobs.schema import job_table as t

    with core.db.connect() as conn:
        rows = conn.execute(sa.select(t.c.name, sa.func.count()).group_by(t.c.name)).all()
    return {name: int(n) for name, n in sorted(rows)}


class Worker:
    """``python manage.py worker`` on the scratch database and a fresh queue (its own
    process group, killed on exit)."""

    def __init__(
        self, env: dict[str, str], concurrency: int, nice: int = 0, pool: str = "prefork"
    ) -> None:
        command = [sys.executable, "manage.py", "worker", "--plugin", "bench.jobs"]
        command += ["--concurrency", str(concurrency), "--pool", pool]
        if nice:  # jobs yield the CPU to requests (nice execs: the pid stays the worker's)
            command = ["nice", "-n", str(nice), *command]
        self.process = subprocess.Popen(
            command,
            cwd=harness.REPO_ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, core: Any) -> None:
        """Until a warm-up job went through it."""
        from bench.jobs import NOOP
        from platform_core.db.engine import write_transaction

        with write_transaction(core.db) as conn:
            core.jobs.enqueue(conn, NOOP, {"warm": True})
        _wait_jobs(core, timeout=120)

    def cpu_s(self) -> float:
        return harness.tree_stats(self.process.pid).cpu_s

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)


def _cpu(meter: harness.CpuMeter, client_s: float, worker_s: float, bookings: int) -> dict:
    """A CpuMeter reading plus the worker, with the total per booking."""
    reading = meter.stop(client_s + worker_s)  # (so that the worker is not "other")
    reading["client_cpu_s"] = round(client_s, 2)
    reading["worker_cpu_s"] = round(worker_s, 2)
    counted = (
        reading["server_cpu_s"] + worker_s + reading["postgres_cpu_s"] + reading["client_cpu_s"]
    )
    reading["cpu_ms_per_booking"] = round(1000 * counted / bookings, 2) if bookings else None
    return reading


def booking_mode(
    args: argparse.Namespace,
    database: ScratchDatabase,
    mode: str,
    patients: list[tuple[str, str]],
    common_env: dict[str, str],
) -> dict[str, Any]:
    """One booking run in ``mode`` (``celery`` or ``inline``) on a fresh server."""
    import redis

    env = dict(common_env)
    queue = f"fireside-bench-{uuid.uuid4().hex[:10]}"
    if mode == "celery":
        env |= {"FIRESIDE_JOBS_BROKER_URL": args.broker, "FIRESIDE_JOBS_QUEUE": queue}
    worker: Worker | None = None
    with BenchServer(
        workers=args.workers, threads=args.threads, extra_env=env, database=database
    ) as server:
        core = _core(database.url, args.horizon_days, server.port, env)
        try:
            if mode == "celery":
                worker_env = harness.server_env(database.url, server.port, env)
                worker = Worker(
                    worker_env, args.worker_concurrency, args.worker_nice, args.worker_pool
                )
                worker.wait_ready(core)
            clients = tokens_for(core, patients)
            if args.warmup:  # every gunicorn worker (and the Celery worker) past its first
                booking_phase(server.port, pick_slots(core, args.warmup), clients)
                _wait_jobs(core)
            slots = pick_slots(core, args.slots)
            log(f"{mode}: booking {len(slots)} slots with {len(patients)} clients")
            whole, clock = harness.CpuMeter(server), harness.CpuMeter(server)
            worker0 = worker.cpu_s() if worker else 0.0
            run, result = booking_phase(server.port, slots, clients)
            worker1 = worker.cpu_s() if worker else 0.0
            result["cpu_during_clock"] = _cpu(clock, run.client_cpu_s, worker1 - worker0, run.ok)
            result["jobs_drained_s"] = round(_wait_jobs(core), 2)
            worker2 = worker.cpu_s() if worker else 0.0
            result["cpu_until_jobs_done"] = _cpu(whole, run.client_cpu_s, worker2 - worker0, run.ok)
            result["jobs_failed"] = _jobs_left(core)[1]
            result["jobs_by_name"] = _job_counts(core)
            result["jobs"] = mode
            result["worker_concurrency"] = args.worker_concurrency if worker else None
            result["worker_nice"] = args.worker_nice if worker else None
            result["worker_pool"] = args.worker_pool if worker else None
            result.update(check(core, slots))
        finally:
            if worker is not None:
                worker.stop()
                with contextlib.suppress(Exception):
                    redis.Redis.from_url(args.broker).delete(queue)
            core.dispose()
    return result


def check(core: Any, slots: list[str]) -> dict[str, Any]:
    """Count Appointments per slot from the stored resources, and the slot rows."""
    from plugins.scheduling.schema import SlotRow

    table = SlotRow.__table__
    with core.db.connect() as conn:
        per_slot = conn.execute(
            sa.text(
                "SELECT s.ref, count(*) FROM fhir_resource r, "
                "jsonb_array_elements(r.content::jsonb -> 'slot') AS s(ref) "
                "WHERE r.resource_type = 'Appointment' AND NOT r.deleted GROUP BY s.ref"
            )
        ).all()
        wanted = {f"Slot/{s}" for s in slots}
        mine = [(ref, n) for ref, n in per_slot if ref.get("reference") in wanted]
        busy = conn.execute(
            sa.select(sa.func.count()).where(
                table.c.slot_id.in_(slots),
                table.c.status == "busy",
                table.c.appointment_id.is_not(None),
            )
        ).scalar_one()
    return {
        "appointments": sum(n for _, n in mine),
        "slots_with_more_than_one_appointment": sum(1 for _, n in per_slot if n > 1),
        "slot_rows_busy": busy,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practitioners", type=int, default=1000)
    parser.add_argument("--horizon-days", type=int, default=30)
    parser.add_argument("--processes", type=int, default=2, help="generating processes")
    parser.add_argument("--slots", type=int, default=1000, help="slots booked per mode")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--warmup", type=int, default=100, help="bookings before the clock, per mode"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--jobs",
        choices=(*MODES, "both"),
        default="both",
        help="where the bookings' jobs run: a Celery worker (celery), the web processes "
        "(inline), or one run each (both, the default)",
    )
    parser.add_argument("--worker-concurrency", type=int, default=1, help="Celery processes")
    parser.add_argument(
        "--worker-pool",
        choices=("prefork", "solo", "threads"),
        default="prefork",
        help="the Celery worker's pool (manage.py worker --pool)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="run the Celery worker at this nice level (10: jobs wait while requests run)",
    )
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    modes = MODES if args.jobs == "both" else (args.jobs,)
    common_env = {
        "FIRESIDE_AUTH_REQUIRED": "true",
        "FIRESIDE_MAIL_URL": "file:///tmp/fireside-bench-mail",
        "FIRESIDE_DB_POOL_SIZE": str(max(5, args.threads + 2)),
        "FIRESIDE_SCHEDULING_HORIZON_DAYS": str(args.horizon_days),
    }
    bookings: dict[str, Any] = {}
    with ScratchDatabase() as database:
        harness.migrate(database.url)
        core = _core(database.url, args.horizon_days)
        try:
            log(f"seeding {args.practitioners} practitioners")
            ids = seed_practitioners(core, args.practitioners)
            log("generating slots")
            generation = generation_phase(database.url, ids, args.processes, args.horizon_days)
            log(f"generation: {generation}")
            patients = seed_patients(core, args.clients)
        finally:
            core.dispose()
        for mode in modes:
            bookings[mode] = booking_mode(args, database, mode, patients, common_env)
            log(f"{mode}: {bookings[mode]['bookings_per_s']} bookings/s")
    print(json.dumps({"benchmark": "booking", "generation": generation, "booking": bookings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
