"""The scheduling plugin's background jobs."""

from __future__ import annotations

from platform_core.jobs.definitions import JobContext, JobDefinition
from plugins.scheduling import booking
from plugins.scheduling.events import on_appointment_change
from plugins.scheduling.generation import generate, practitioners_with_rules

HORIZON_PERIOD_S = 3600.0
HOLD_SWEEP_S = 60.0


def _generate(ctx: JobContext) -> None:
    generate(ctx.core, ctx.conn, str(ctx.payload["practitioner"]))


def _roll_horizon(ctx: JobContext) -> None:
    """Once an hour: extend every practitioner's slots to the horizon (one job each, so
    workers share the work and one practitioner's failure does not stop the others)."""
    for practitioner in practitioners_with_rules(ctx.conn):
        ctx.core.jobs.enqueue(
            ctx.conn,
            "scheduling.generate",
            {"practitioner": practitioner},
            key=f"generate:{practitioner}:{ctx.payload.get('period_start', '')}",
        )


def _expire_holds(ctx: JobContext) -> None:
    booking.expire_holds(ctx.core, ctx.conn, ctx.payload.get("appointment"))


def _payment_confirmed(ctx: JobContext) -> None:
    booking.confirm_payment(ctx.core, ctx.conn, str(ctx.payload.get("reference", "")))


JOBS = [
    JobDefinition(
        "scheduling.on_appointment_change",
        on_appointment_change,
        resource_types=frozenset({"Appointment"}),
    ),
    JobDefinition("scheduling.generate", _generate),
    JobDefinition("scheduling.roll_horizon", _roll_horizon, schedule_s=HORIZON_PERIOD_S),
    JobDefinition("scheduling.expire_holds", _expire_holds, schedule_s=HOLD_SWEEP_S),
    JobDefinition(
        "scheduling.payment_confirmed", _payment_confirmed, events=frozenset({"payment.confirmed"})
    ),
]
