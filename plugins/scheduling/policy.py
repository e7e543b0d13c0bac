"""The booking rules that hold whoever changes an Appointment: which status changes a patient
may make, and the cancellation and rescheduling windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from platform_core.fhir.instants import now_utc
from platform_core.plugin_api import RejectWrite

PATIENT_ROLES = frozenset({"patient", "guardian"})
TRANSITIONS = {
    "proposed": {"pending", "booked", "cancelled"},
    "pending": {"booked", "cancelled"},
    "booked": {"arrived", "fulfilled", "cancelled", "noshow", "booked"},
    "arrived": {"fulfilled", "cancelled", "noshow"},
    "fulfilled": set(),
    "cancelled": set(),
    "noshow": set(),
    "entered-in-error": set(),
}
"""Allowed status changes (``booked -> booked`` is a reschedule)."""


def minutes(core: Any, key: str, default: int) -> int:
    return int(core.settings.extra.get(key, default))


def check_change(
    core: Any,
    old: dict[str, Any],
    new: dict[str, Any],
    role: str | None,
    now: datetime | None = None,
) -> None:
    """Refuse a change of an existing Appointment that breaks the booking rules: an
    impossible status change (409), a patient doing more than cancelling or rescheduling
    (403), or doing it inside the configured window before the start (409)."""
    now = now or now_utc()
    before, after = old.get("status"), new.get("status")
    if before != after and after not in TRANSITIONS.get(before or "", set()):
        raise RejectWrite(
            f"An appointment that is {before} cannot become {after}",
            status=409,
            expression="Appointment.status",
        )
    if role not in PATIENT_ROLES:
        return
    start = _instant(old.get("start"))
    moved = old.get("start") != new.get("start") or old.get("slot") != new.get("slot")
    if before != after and after != "cancelled" and not (before == "proposed"):
        raise RejectWrite(
            "Patients may cancel or reschedule; the practitioner records other changes",
            status=403,
            expression="Appointment.status",
        )
    if start is None:
        return
    if after == "cancelled" and before != "cancelled":
        window = minutes(core, "scheduling_cancel_window_minutes", 120)
        if start - now < timedelta(minutes=window):
            raise RejectWrite(
                f"Appointments can be cancelled until {window} minutes before they start; "
                "contact the practice",
                status=409,
                expression="Appointment.status",
            )
    elif moved:
        window = minutes(core, "scheduling_reschedule_window_minutes", 120)
        if start - now < timedelta(minutes=window):
            raise RejectWrite(
                f"Appointments can be rescheduled until {window} minutes before they start",
                status=409,
                expression="Appointment.start",
            )


def _instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
