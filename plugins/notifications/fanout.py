"""From "this happened" to queued deliveries: who is told, on which channels, with what text.

:func:`fan_out` runs inside a job (``ctx.conn``). For each recipient it reads their account
and preferences, picks their channels, renders the message in their language and time zone,
and writes one ``queued`` row of ``notifications_delivery`` plus one ``notifications.deliver``
job per (recipient, channel) (per device for push), in that one transaction: a delivery row
exists exactly when its job does.

Idempotent: a delivery's key (``<event>:<subject id>:<extra>:<user>:<channel>``) is unique,
so running the same notice again (a duplicate event, a job run twice) queues nothing new.

Who gets what:

* email: the account's address, unless ``email_enabled`` is off or the event is opted out;
  account-critical events (``catalog.ACCOUNT_EVENTS``) always go by email.
* sms: the preference's phone, when ``sms_enabled`` and an SMS provider is configured.
* push: each registered device, when ``push_enabled`` and a push provider is configured.

An opted-out event or a switched-off channel gets no delivery row at all: the log holds the
messages that were meant to go out. Accounts that are not active (suspended, or with an
unverified email address) are told only about their own account (``practitioner.*``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import get_user
from platform_core.jobs.definitions import JobContext
from plugins.notifications import preferences as prefs_store
from plugins.notifications.catalog import (
    ACCOUNT_EVENTS,
    EMAIL,
    PUSH,
    QUEUED,
    SMS,
    NotificationSettings,
)
from plugins.notifications.rendering import format_money, format_when, render
from plugins.notifications.schema import KEY_LENGTH, delivery_table
from plugins.notifications.senders import available

log = logging.getLogger(__name__)

DELIVER_JOB = "notifications.deliver"
JOB_KEY_PREFIX = "notify:"


@dataclass(frozen=True)
class Recipient:
    """An account to tell, and in which role it reads the message."""

    user_id: str
    audience: str
    """``patient`` (the patient or a guardian), ``practitioner`` or ``account`` (the
    account an account event is about)."""


@dataclass
class Notice:
    """Something to tell some people about."""

    event: str
    resource: str
    """What it is about: ``Appointment/<id>``."""
    extra: str
    """Part of the delivery key that tells two notices about one resource apart (the start
    of a rescheduled appointment, the kind of a reminder)."""
    facts: dict[str, Any]
    """Raw template values (instants as datetimes, money as dicts); formatted per reader."""
    recipients: list[Recipient] = field(default_factory=list)


def bounded_key(key: str, limit: int = KEY_LENGTH) -> str:
    """``key`` itself, or a prefix and a digest when it is longer than ``limit``."""
    if len(key) <= limit:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: limit - 33]}:{digest}"


def _device_tag(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


_UNNAMED = {
    "en": {"patient_name": "the patient", "practitioner_name": "your practitioner"},
    "fr": {"patient_name": "le patient", "practitioner_name": "votre praticien"},
}
"""What a message calls a person whose FHIR resource could not be read."""


def variables(notice: Notice, audience: str, language: str, zone: Any) -> dict[str, Any]:
    """The template values for one reader: instants in their zone, money in their
    language, a stand-in for a name that is unknown (``greeting_name`` stays empty then,
    for "Hello," rather than "Hello your practitioner,")."""
    facts = notice.facts
    values: dict[str, Any] = {
        key: value for key, value in facts.items() if key not in ("start", "previous_start")
    }
    for key in ("start", "previous_start"):
        values[key], values[f"{key}_short"] = format_when(facts.get(key), zone, language)
    for key in ("price", "total"):
        values[key] = format_money(facts.get(key), language)
    fallback = _UNNAMED.get(language, _UNNAMED["en"])
    values["greeting_name"] = facts.get("practitioner_name") or ""
    for key in ("patient_name", "practitioner_name"):
        values[key] = facts.get(key) or fallback[key]
    values["audience"] = audience
    values["zone"] = zone.key
    return values


def fan_out(ctx: JobContext, notice: Notice) -> int:
    """Queue the deliveries of ``notice``; how many new ones were queued."""
    conn = ctx.conn
    settings = NotificationSettings.of(ctx.core.settings)
    channels_up = {SMS: available(ctx.core, SMS), PUSH: available(ctx.core, PUSH)}
    queued = 0
    seen: set[str] = set()
    for recipient in notice.recipients:
        if recipient.user_id in seen:
            continue
        seen.add(recipient.user_id)
        user = get_user(ctx.core.db, recipient.user_id, conn=conn)
        if user is None:
            log.info("%s: no account %s; nothing sent to it", notice.event, recipient.user_id)
            continue
        if notice.event not in ACCOUNT_EVENTS and not user.is_active:
            continue
        prefs = prefs_store.load(conn, user.id)
        language = prefs.effective_language(settings)
        values = variables(notice, recipient.audience, language, prefs.zone(settings))
        for channel, destination, tag in _routes(conn, notice.event, user, prefs, channels_up):
            key = bounded_key(
                f"{notice.event}:{notice.resource.rpartition('/')[2]}:{notice.extra}"
                f":{user.id}:{channel}{tag}"
            )
            if _exists(conn, key):
                continue
            rendered = render(notice.event, channel, language, values)
            now = now_utc()
            result = conn.execute(
                sa.insert(delivery_table).values(
                    key=key,
                    user_id=user.id,
                    event=notice.event,
                    resource=notice.resource,
                    channel=channel,
                    destination=destination,
                    language=language,
                    title=rendered.title,
                    body=rendered.body,
                    data={"event": notice.event, "resource": notice.resource}
                    if channel == PUSH
                    else None,
                    status=QUEUED,
                    attempts=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            delivery_id = int(result.inserted_primary_key[0])
            ctx.core.jobs.enqueue(
                conn,
                DELIVER_JOB,
                {"delivery": delivery_id},
                key=bounded_key(JOB_KEY_PREFIX + key),
            )
            queued += 1
    return queued


def _routes(
    conn: Connection, event: str, user: Any, prefs: Any, channels_up: dict[str, bool]
) -> list[tuple[str, str, str]]:
    """``(channel, destination, key suffix)`` for each way ``user`` is told about
    ``event``."""
    opted_out = event in prefs.opted_out_events
    routes: list[tuple[str, str, str]] = []
    if event in ACCOUNT_EVENTS or (prefs.email_enabled and not opted_out):
        routes.append((EMAIL, user.email, ""))
    if opted_out:
        return routes
    if prefs.sms_enabled and prefs.phone and channels_up[SMS]:
        routes.append((SMS, prefs.phone, ""))
    if prefs.push_enabled and channels_up[PUSH]:
        for device in prefs_store.devices(conn, user.id):
            routes.append((PUSH, device["token"], ":" + _device_tag(device["token"])))
    return routes


def _exists(conn: Connection, key: str) -> bool:
    return (
        conn.execute(sa.select(delivery_table.c.id).where(delivery_table.c.key == key)).first()
        is not None
    )
