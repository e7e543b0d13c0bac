"""The invoicing plugin's job: ``invoicing.on_fulfilled``, subscribed to
``appointment.fulfilled``.

It issues the consultation's Invoice in the job's own transaction (``ctx.conn``), so the
Invoice, its ``invoicing_invoice`` row, the number counter and the ``invoice.issued`` event
commit together with the job's "done", exactly once.

A failure decided by the event itself (a malformed payload, a currency without a
minor-unit entry) would fail the same way on every retry: the job raises
:class:`~platform_core.jobs.PermanentFailure` and is kept as ``failed`` at once, its
``last_error`` saying what is wrong (``PermanentFailure: UnknownCurrency: ...``). Anything
else (a bad tax-rate setting, the database refusing a statement) is retried by the outbox
with backoff, as every job is. Fix the cause, then retry a failed job (``python manage.py
jobs retry ID`` or the admin API).
"""

from __future__ import annotations

import logging

from platform_core.jobs import JobContext, JobDefinition, PermanentFailure
from plugins.invoicing.config import tax_rate_bp
from plugins.invoicing.issuing import InvoiceRefused, charge_from_event, issue
from plugins.invoicing.money import UnknownCurrency

log = logging.getLogger(__name__)

ON_FULFILLED = "invoicing.on_fulfilled"
APPOINTMENT_FULFILLED = "appointment.fulfilled"


def on_fulfilled(ctx: JobContext) -> None:
    """Issue the Invoice of a fulfilled consultation (none for a consultation without a
    price; nothing new when it has one already)."""
    try:
        charge = charge_from_event(ctx.payload)
    except (InvoiceRefused, UnknownCurrency) as exc:
        raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc
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
    return [JobDefinition(ON_FULFILLED, on_fulfilled, events=frozenset({APPOINTMENT_FULFILLED}))]
