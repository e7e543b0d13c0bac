"""Booking under load and slot generation: ``python -m bench.booking``.

On a scratch PostgreSQL database (see :mod:`bench.harness`):

1. generation: ``--practitioners`` verified practitioners each publish one weekly rule
   (Mon-Fri 09:00-17:00 Africa/Lagos, 30-minute slots); the clock runs while
   ``--processes`` processes (each its own core, as Celery workers would be) generate every
   practitioner's Slots for a ``--horizon-days`` horizon, one transaction per practitioner
   (target: 1,000 practitioners over 30 days in under 60 s).
2. booking: a gunicorn server (``--workers``); ``--clients`` patients, each with their own
   token, book ``--slots`` slots through ``POST /api/scheduling/bookings``. Each client walks
   the slot list from its own starting point, so neighbours collide at the edges; a 409
   sends it to the next slot. The clock stops when every slot is booked (target: at least
   200 bookings/s and zero double bookings).
3. checks: exactly one Appointment per booked slot, every slot row ``busy`` with its
   appointment, and no 5xx.

Prints ONE JSON object; stops the server and drops the database, also on failure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
import uuid
from typing import Any

import sqlalchemy as sa

from bench import harness
from bench.harness import BenchServer, log
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


def _core(url: str, horizon_days: int, port: int = 0) -> Any:
    """Core services on the scratch database; with the server's ``port`` its tokens are the
    server's own (same issuer)."""
    env = harness.server_env(url, port, {"FIRESIDE_SCHEDULING_HORIZON_DAYS": str(horizon_days)})
    env["FIRESIDE_JOBS_INLINE_BACKGROUND"] = "false"
    return build_core(load_settings(environ=env))


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


def _generate_share(args: tuple[str, int, list[str]]) -> int:
    from plugins.scheduling.generation import generate

    url, horizon, ids = args
    core = _core(url, horizon)
    created = 0
    try:
        for pid in ids:
            with core.repository.transaction() as conn:
                created += generate(core, conn, pid).created
    finally:
        core.dispose()
    return created


def generation_phase(url: str, ids: list[str], processes: int, horizon: int) -> dict[str, Any]:
    shares = [(url, horizon, ids[i::processes]) for i in range(processes)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        created = sum(pool.map(_generate_share, shares))
    wall = time.perf_counter() - started
    return {
        "practitioners": len(ids),
        "horizon_days": horizon,
        "processes": processes,
        "slots_created": created,
        "seconds": round(wall, 2),
        "slots_per_s": round(created / wall),
        "target_seconds": 60,
    }


def seed_patients(core: Any, count: int) -> list[tuple[str, str]]:
    """``count`` patients with accounts; (patient id, access token) each."""
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
        token, _ = core.auth.tokens.issue(
            scope=PATIENT_SCOPE, client_id="bench", user_id=user.id, fhir_user=f"Patient/{pid}"
        )
        out.append((pid, token))
    return out


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


def booking_phase(port: int, slots: list[str], patients: list[tuple[str, str]]) -> dict[str, Any]:
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
    return {
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
        busy = conn.execute(
            sa.select(sa.func.count()).where(
                table.c.slot_id.in_(slots),
                table.c.status == "busy",
                table.c.appointment_id.is_not(None),
            )
        ).scalar_one()
    return {
        "appointments": sum(n for _, n in per_slot),
        "slots_with_more_than_one_appointment": sum(1 for _, n in per_slot if n > 1),
        "slot_rows_busy": busy,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--practitioners", type=int, default=1000)
    parser.add_argument("--horizon-days", type=int, default=30)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    harness.exit_on_sigterm()
    extra_env = {
        "FIRESIDE_AUTH_REQUIRED": "true",
        "FIRESIDE_MAIL_URL": "file:///tmp/fireside-bench-mail",
        "FIRESIDE_DB_POOL_SIZE": str(max(5, args.threads + 2)),
    }
    with BenchServer(workers=args.workers, threads=args.threads, extra_env=extra_env) as server:
        assert server.database is not None
        url = server.database.url
        core = _core(url, args.horizon_days, server.port)
        try:
            log(f"seeding {args.practitioners} practitioners")
            ids = seed_practitioners(core, args.practitioners)
            log("generating slots")
            generation = generation_phase(url, ids, args.processes, args.horizon_days)
            log(f"generation: {generation}")
            patients = seed_patients(core, args.clients)
            slots = pick_slots(core, args.slots)
            log(f"booking {len(slots)} slots with {args.clients} clients")
            bookings = booking_phase(server.port, slots, patients)
            checks = check(core, slots)
        finally:
            core.dispose()
    result = {"benchmark": "booking", "generation": generation, "booking": bookings, **checks}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
