"""The invoicing plugin's job: ``invoicing.on_fulfilled``, subscribed to
``appointment.fulfilled``.

It issues the consultation's Invoice in the job's own transaction (``ctx.conn``), so the
Invoice, its ``invoicing_invoice`` row, the number counter and the ``invoice.issued`` event
commit together with the job's "done", exactly once.

Every way this job can fail is decided by its input (a malformed payload, a currency
without a minor-unit entry, a bad tax-rate setting), so a retry would fail the same way: the
job has a single attempt and is kept as ``failed`` at once, its ``last_error`` saying what
is wrong. Fix the cause, then retry it (``python manage.py jobs retry ID`` or the admin
API). Only a failure the core cannot even record (the database unreachable) leaves the
job to the sweeper, which hands it over again.
"""

from __future__ import annotations

import logging

from platform_core.jobs.definitions import JobContext, JobDefinition
from plugins.invoicing.config import tax_rate_bp
from plugins.invoicing.issuing import charge_from_event, issue

log = logging.getLogger(__name__)

ON_FULFILLED = "invoicing.on_fulfilled"
APPOINTMENT_FULFILLED = "appointment.fulfilled"


def on_fulfilled(ctx: JobContext) -> None:
    """Issue the Invoice of a fulfilled consultation (none for a consultation without a
    price; nothing new when it has one already)."""
    charge = charge_from_event(ctx.payload)
    if charge is None:
        log.info(
            "appointment %s was fulfilled without a price: no invoice",
            ctx.payload.get("appointment"),
        )
        return
    issued = issue(ctx.core, ctx.conn, charge, rate_bp=tax_rate_bp(ctx.core.settings))
    if not issued.created:
        log.info("appointment %s has its invoice %s already", charge.appointment, issued.number)


def job_definitions() -> list[JobDefinition]:
    """The plugin's jobs."""
    return [
        JobDefinition(
            ON_FULFILLED,
            on_fulfilled,
            max_attempts=1,
            events=frozenset({APPOINTMENT_FULFILLED}),
        )
    ]
