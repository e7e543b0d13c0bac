"""Appointment reminders, 24 hours and 1 hour before the start.

When a consultation is booked or rescheduled, :func:`schedule` enqueues one
``notifications.reminder`` job per lead time with ``delay_s``, keyed
``reminder:<appointment>:<kind>:<start>`` (a reminder whose time has passed is not
scheduled). Nothing is ever unscheduled: when a reminder runs, :func:`send_if_still_due`
reads the Appointment and sends only if it is still ``booked`` at the start the reminder
was made for. A cancelled appointment, or one moved since (its new start has reminders of
its own), gets nothing but a log line: no delivery row.
"""

from __future__ import annotations

import logging
from typing import Any

from platform_core.fhir.instants import now_utc
from platform_core.jobs.definitions import JobContext
from plugins.notifications.catalog import NotificationSettings
from plugins.notifications.fanout import fan_out
from plugins.notifications.notices import instant_key, read_resource, reminder_notice
from plugins.notifications.rendering import parse_instant

log = logging.getLogger(__name__)

REMINDER_JOB = "notifications.reminder"
LEADS: tuple[tuple[str, float], ...] = (("24h", 24 * 3600.0), ("1h", 3600.0))
"""Reminder kinds and how long before the start each is sent."""
CARRIED = ("appointment", "patient", "practitioner", "start", "end", "service_display", "mode")
"""The event payload fields a reminder keeps for its message."""


def schedule(ctx: JobContext, payload: dict[str, Any]) -> int:
    """Enqueue the reminders of a booked or rescheduled appointment; how many."""
    if not NotificationSettings.of(ctx.core.settings).reminders:
        return 0
    start = parse_instant(payload.get("start"))
    appointment = payload.get("appointment")
    if start is None or not isinstance(appointment, str) or not appointment:
        return 0
    now = now_utc()
    scheduled = 0
    for kind, lead in LEADS:
        delay = (start - now).total_seconds() - lead
        if delay <= 0:
            continue  # its time has passed (booked at short notice)
        body = {name: payload.get(name) for name in CARRIED}
        body["kind"] = kind
        key = f"reminder:{appointment}:{kind}:{instant_key(payload.get('start'))}"
        if ctx.core.jobs.enqueue(ctx.conn, REMINDER_JOB, body, key=key, delay_s=delay):
            scheduled += 1
    return scheduled


def send_if_still_due(ctx: JobContext) -> None:
    """The ``notifications.reminder`` job: tell the patient side and the practitioner, if
    the appointment is still booked at the start this reminder was made for."""
    payload = ctx.payload
    appointment_id = payload.get("appointment")
    appointment = read_resource(ctx.core, ctx.conn, "Appointment", appointment_id)
    if appointment is None:
        log.info("reminder for Appointment/%s not sent: it is gone", appointment_id)
        return
    status = appointment.get("status")
    if status != "booked":
        log.info("reminder for Appointment/%s not sent: it is %s", appointment_id, status)
        return
    if parse_instant(appointment.get("start")) != parse_instant(payload.get("start")):
        log.info("reminder for Appointment/%s not sent: it was moved", appointment_id)
        return
    fan_out(ctx, reminder_notice(ctx.core, ctx.conn, payload))
