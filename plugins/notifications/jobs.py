"""The notifications plugin's jobs.

* ``notifications.on_event``: subscribed to the care events (``catalog.SUBSCRIBED_EVENTS``).
  Turns the event into queued deliveries and one deliver job for them (:mod:`.fanout`) and,
  for a booking or a rescheduling, schedules the reminders (:mod:`.reminders`). It runs
  ``in_write``: inside the transaction that publishes the event, in a savepoint (a failure
  rolls back its part alone and sends it through the outbox as a job of its own). Delivery
  rows and the job that sends them exist together, or not at all.
* ``notifications.deliver``: ``{"deliveries": [id, ...]}``, the deliveries one notice queued
  (``{"delivery": id}``, the shape of jobs queued before deliveries were batched, is still
  read). Sends each delivery that is still ``queued``. It is defined with
  ``transactional=False``: it reads the deliveries, sends them with no transaction open (a
  slow SMTP server or provider never holds a database lock, which on SQLite would stop
  every other writer), then records the outcomes in one short transaction of its own.
  Every delivery is tried in each run, whatever happened to the others. Success records
  ``sent`` with the provider's message id. A ``MailError``, a retryable ``DeliveryError``
  (or any other exception of an adapter) leaves that delivery ``queued`` and, once the
  others' outcomes are recorded, makes the job raise, so the outbox retries it with
  backoff: the retry finds the deliveries already recorded no longer ``queued`` and sends
  only the ones still waiting. On attempt ``notifications_max_attempts``, or at once for an
  error retrying cannot fix, the delivery is recorded ``failed`` with the error. An outcome
  is written only over a ``queued`` row (``UPDATE ... WHERE status = 'queued'``), so each
  delivery is recorded exactly once even if a duplicate run sent it again (with the same
  ``Message-ID``); a delivery that is no longer ``queued`` when a run starts is left alone.
* ``notifications.reminder``: a reminder whose time has come (:mod:`.reminders`).

While a delivery is being retried its row stays ``queued`` (its job's ``attempts`` and
``last_error``, the first retryable error of the attempt, are in the outbox,
``/api/admin/jobs``). If the process dies between the sends and the record, the job's lease
runs out and the sweeper hands it over again: those messages may go twice (at least once,
never lost), the record is written once.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.jobs.definitions import JobContext, JobDefinition
from plugins.notifications import senders
from plugins.notifications.catalog import (
    ATTEMPTS_CEILING,
    FAILED,
    QUEUED,
    REMINDER_EVENTS,
    SENT,
    SUBSCRIBED_EVENTS,
    NotificationSettings,
)
from plugins.notifications.channels.base import DeliveryError
from plugins.notifications.fanout import DELIVER_JOB, fan_out
from plugins.notifications.notices import notice_for_event
from plugins.notifications.reminders import REMINDER_JOB, schedule, send_if_still_due
from plugins.notifications.schema import delivery_table

log = logging.getLogger(__name__)

ON_EVENT_JOB = "notifications.on_event"
ERROR_CHARS = 1000
"""A failed delivery keeps at most this much of its error."""


def on_event(ctx: JobContext) -> None:
    """Queue the deliveries (and reminders) a care event calls for."""
    event = str(ctx.payload.get("event", ""))
    if event not in SUBSCRIBED_EVENTS:
        log.warning("notifications.on_event got an event it does not handle: %r", event)
        return
    notice = notice_for_event(ctx.core, ctx.conn, event, ctx.payload)
    queued = fan_out(ctx, notice)
    reminders = schedule(ctx, ctx.payload) if event in REMINDER_EVENTS else 0
    log.debug("%s on %s: %d deliveries, %d reminders", event, notice.resource, queued, reminders)


def deliver(ctx: JobContext) -> None:
    """Send a notice's queued deliveries (see the module docstring for retries and
    failures). Runs without a transaction: a read, the sends, then a short write."""
    ids = delivery_ids(ctx.payload)
    if not ids:
        return
    with ctx.core.db.connect() as conn:
        rows = conn.execute(
            sa.select(delivery_table)
            .where(delivery_table.c.id.in_(ids), delivery_table.c.status == QUEUED)
            .order_by(delivery_table.c.id)
        ).all()
    # Rows gone with their user, or finished by an earlier run, are left alone.
    settings = NotificationSettings.of(ctx.core.settings)
    outcomes: list[tuple[int, str, dict[str, str]]] = []
    retry: Exception | None = None
    for row in rows:
        try:
            provider, provider_id = senders.send(ctx.core, row)
        except Exception as exc:
            # MailError and DeliveryError are the adapters' contract; anything else an
            # adapter lets out (a bug, a library's own exception) is treated as retryable
            # too, so the delivery still ends up sent or recorded as failed, never stuck as
            # queued.
            retryable = not isinstance(exc, DeliveryError) or exc.retryable
            if retryable and ctx.attempt < settings.max_attempts:
                log.info(
                    "delivery %s (%s by %s) attempt %d failed with %s; to be retried",
                    row.id,
                    row.event,
                    row.channel,
                    ctx.attempt,
                    type(exc).__name__,
                )
                retry = retry or exc  # the others are tried first; it stays queued
                continue
            error = f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
            outcomes.append((row.id, FAILED, {"error": error}))
            log.warning(
                "delivery %s (%s by %s) failed after %d attempt(s) with %s",
                row.id,
                row.event,
                row.channel,
                ctx.attempt,
                type(exc).__name__,
            )
            continue
        outcomes.append(
            (row.id, SENT, {"provider": provider, "provider_message_id": str(provider_id)[:255]})
        )
    _finish(ctx, outcomes)
    if retry is not None:
        raise retry  # the outbox retries the job; what was recorded is no longer queued


def delivery_ids(payload: dict[str, Any]) -> list[int]:
    """The delivery ids of a deliver job: ``{"deliveries": [id, ...]}``, or ``{"delivery":
    id}`` as jobs queued before deliveries were batched have it."""
    if "deliveries" in payload:
        return [int(i) for i in payload["deliveries"]]
    single = payload.get("delivery")
    return [] if single is None else [int(single)]


def _finish(ctx: JobContext, outcomes: list[tuple[int, str, dict[str, str]]]) -> None:
    """Record the outcomes in one short transaction, each over a still ``queued`` row only
    (a duplicate run that finished first has recorded it already)."""
    if not outcomes:
        return
    now = now_utc()
    with write_transaction(ctx.core.db) as conn:
        for delivery_id, status, values in outcomes:
            recorded = conn.execute(
                sa.update(delivery_table)
                .where(delivery_table.c.id == delivery_id, delivery_table.c.status == QUEUED)
                .values(
                    status=status,
                    attempts=ctx.attempt,
                    sent_at=now if status == SENT else None,
                    updated_at=now,
                    **values,
                )
            )
            if recorded.rowcount != 1:
                log.info("delivery %s was recorded by another run already", delivery_id)


def job_definitions() -> list[JobDefinition]:
    """The three jobs. The deliver job's outbox ceiling is :data:`ATTEMPTS_CEILING`;
    ``notifications_max_attempts`` (read at run time) gives up sooner."""
    return [
        JobDefinition(
            ON_EVENT_JOB,
            on_event,
            max_attempts=8,
            backoff_s=5.0,
            backoff_max_s=600.0,
            events=SUBSCRIBED_EVENTS,
            # Database work only (reads, rows, one job): in the publisher's transaction, in
            # a savepoint; through the outbox only if it raises.
            in_write=True,
        ),
        JobDefinition(
            DELIVER_JOB,
            deliver,
            max_attempts=ATTEMPTS_CEILING,
            backoff_s=30.0,
            backoff_max_s=3600.0,
            transactional=False,  # never hold the database while a mail server answers
        ),
        JobDefinition(REMINDER_JOB, send_if_still_due, max_attempts=8, backoff_s=30.0),
    ]
