"""What the notifications plugin knows: the events it tells people about, its channels, its
languages, and its settings.

The event names are the care plugins' contract (``docs/care_workflows.md``) plus one of this
plugin's own, ``appointment.reminder`` (24 hours and 1 hour before a booked consultation).
Users opt out of events by these names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

log = logging.getLogger(__name__)

PRACTITIONER_VERIFIED = "practitioner.verified"
PRACTITIONER_REJECTED = "practitioner.rejected"
PRACTITIONER_SUSPENDED = "practitioner.suspended"
APPOINTMENT_BOOKED = "appointment.booked"
APPOINTMENT_CANCELLED = "appointment.cancelled"
APPOINTMENT_RESCHEDULED = "appointment.rescheduled"
APPOINTMENT_FULFILLED = "appointment.fulfilled"
APPOINTMENT_REMINDER = "appointment.reminder"
PRESCRIPTION_ISSUED = "prescription.issued"
INVOICE_ISSUED = "invoice.issued"

ACCOUNT_EVENTS = frozenset({PRACTITIONER_VERIFIED, PRACTITIONER_REJECTED, PRACTITIONER_SUSPENDED})
"""Account-critical: always sent by email, whatever the preferences say (opting out of them
silences SMS and push only), and sent to the account whatever its status (a suspended
practitioner is told why)."""
APPOINTMENT_EVENTS = frozenset(
    {APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED, APPOINTMENT_RESCHEDULED, APPOINTMENT_FULFILLED}
)
PRACTITIONER_TOLD = frozenset({APPOINTMENT_BOOKED, APPOINTMENT_CANCELLED, APPOINTMENT_RESCHEDULED})
"""Appointment events the practitioner's own account hears about too (a fulfilled
consultation's "leave a review" goes to the patient side only)."""
SUBSCRIBED_EVENTS = frozenset(
    ACCOUNT_EVENTS | APPOINTMENT_EVENTS | {PRESCRIPTION_ISSUED, INVOICE_ISSUED}
)
"""The domain events ``notifications.on_event`` listens to."""
EVENTS: tuple[str, ...] = tuple(sorted(SUBSCRIBED_EVENTS | {APPOINTMENT_REMINDER}))
"""Every event a user can receive (and opt out of)."""
REMINDER_EVENTS = frozenset({APPOINTMENT_BOOKED, APPOINTMENT_RESCHEDULED})
"""Events that schedule reminders."""

EMAIL = "email"
SMS = "sms"
PUSH = "push"
CHANNELS: tuple[str, ...] = (EMAIL, SMS, PUSH)

LANGUAGES: tuple[str, ...] = ("en", "fr")
"""Languages with a full set of templates; anything else falls back to ``en``."""
FALLBACK_LANGUAGE = "en"

PLATFORMS: tuple[str, ...] = ("android", "ios", "web")
"""Device platforms a push token may be registered for."""

QUEUED = "queued"
SENT = "sent"
FAILED = "failed"
STATUSES: tuple[str, ...] = (QUEUED, SENT, FAILED)
"""A delivery's states: ``queued`` (its job is pending or being retried) -> ``sent`` or
``failed`` (after the last attempt, or at once for an error retrying cannot fix)."""

ATTEMPTS_CEILING = 20
"""The deliver job's ``max_attempts`` in the outbox. ``notifications_max_attempts`` (read
when a job runs) decides when a delivery is given up; this only bounds it."""


@dataclass(frozen=True)
class NotificationSettings:
    """The plugin's configuration keys: ``notifications_*`` in ``settings.extra`` (where the
    core's ``load_settings`` puts them from the TOML file, the ``FIRESIDE_NOTIFICATIONS_*``
    environment variables or the mapping given to ``create_app``), else the default. A value
    that cannot be read is logged and replaced by the default, so a typo never stops
    deliveries."""

    max_attempts: int = 5
    default_language: str = FALLBACK_LANGUAGE
    default_time_zone: str = "UTC"
    email_from: str | None = None
    reminders: bool = True

    @classmethod
    def of(cls, settings: Any) -> NotificationSettings:
        """The plugin's settings from the core's."""

        def raw(name: str) -> Any:
            return settings.extra.get(f"notifications_{name}")

        attempts = _number(raw("max_attempts"), cls.max_attempts)
        language = raw("default_language") or cls.default_language
        if language not in LANGUAGES:
            log.warning("notifications_default_language %r is not one of %s", language, LANGUAGES)
            language = cls.default_language
        zone = str(raw("default_time_zone") or cls.default_time_zone)
        if zone not in known_zones():
            log.warning("notifications_default_time_zone %r is not an IANA zone", zone)
            zone = cls.default_time_zone
        reminders = raw("reminders")
        return cls(
            max_attempts=max(1, min(attempts, ATTEMPTS_CEILING)),
            default_language=language,
            default_time_zone=zone,
            email_from=str(raw("email_from") or "") or None,
            reminders=cls.reminders if reminders is None else _flag(reminders),
        )


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA zone name the ``tzdata`` database knows."""
    return frozenset(available_timezones())


def _number(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        log.warning("notifications_max_attempts %r is not a number; using %d", value, default)
        return default


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
