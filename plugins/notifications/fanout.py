"""From "this happened" to queued deliveries: who is told, on which channels, with what text.

:func:`fan_out` runs inside a job (``ctx.conn``). It reads all recipients' accounts,
preferences and (when push can go out) devices, picks each one's channels, keeps the
(recipient, channel) pairs (per device for push) whose delivery key is not in the log yet,
renders each message in its reader's language and time zone, and writes the ``queued`` rows
of ``notifications_delivery`` (one multi-row INSERT) plus one ``notifications.deliver`` job
for all of them (``{"deliveries": [id, ...]}``), in that one transaction: a delivery row
exists exactly when a job to send it does. The number of statements does not grow with the
number of recipients: one query each for accounts, preferences, devices and existing keys,
then the INSERT and the job.

Idempotent: a delivery's key (``<event>:<subject id>:<extra>:<user>:<channel>``) is unique,
so running the same notice again (a duplicate event, a job run twice) queues nothing new.
The deliver job's key is the notice's (``notify:<event>:<subject id>:<extra>``) with a
digest of the delivery keys it sends: a re-run that finds someone new to tell (a device
registered meanwhile) queues a job of its own for just those deliveries.

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
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.fhir.instants import now_utc
from platform_core.identity.users import User, get_users
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
    readers = _readers(conn, notice)
    preferences = prefs_store.load_many(conn, [user.id for user, _ in readers])
    wants_push = [
        user.id
        for user, _ in readers
        if preferences[user.id].push_enabled
        and notice.event not in preferences[user.id].opted_out_events
    ]
    devices = prefs_store.devices_of(conn, wants_push if channels_up[PUSH] else [])
    notice_key = f"{notice.event}:{notice.resource.rpartition('/')[2]}:{notice.extra}"
    planned: list[_Planned] = []
    for user, audience in readers:
        prefs = preferences[user.id]
        language = prefs.effective_language(settings)
        values = variables(notice, audience, language, prefs.zone(settings))
        for channel, destination, tag in _routes(
            notice.event, user, prefs, devices.get(user.id, []), channels_up
        ):
            key = bounded_key(f"{notice_key}:{user.id}:{channel}{tag}")
            planned.append(_Planned(key, user.id, channel, destination, language, values))
    logged = _logged_keys(conn, [p.key for p in planned])
    now = now_utc()
    rows = [_delivery_row(notice, p, now) for p in planned if p.key not in logged]
    if not rows:
        return 0
    # One INSERT for all the rows (SQLAlchemy's "insertmanyvalues" on SQLite and
    # PostgreSQL; it pages a huge one). The job lists the ids sorted, so the order RETURNING
    # gives them in does not matter (no sort_by_parameter_order, which may cost a sentinel).
    inserted = conn.execute(sa.insert(delivery_table).returning(delivery_table.c.id), rows)
    ids = sorted(int(delivery_id) for delivery_id in inserted.scalars())
    keys = sorted(row["key"] for row in rows)
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
    ctx.core.jobs.enqueue(
        conn,
        DELIVER_JOB,
        {"deliveries": ids},
        key=bounded_key(f"{JOB_KEY_PREFIX}{notice_key}:{digest}"),
    )
    return len(rows)


class _Planned(NamedTuple):
    """A delivery the notice calls for, before it is looked up in the log."""

    key: str
    user_id: str
    channel: str
    destination: str
    language: str
    values: dict[str, Any]


def _delivery_row(notice: Notice, planned: _Planned, now: Any) -> dict[str, Any]:
    """The ``queued`` row of a new delivery, its message rendered."""
    rendered = render(notice.event, planned.channel, planned.language, planned.values)
    return {
        "key": planned.key,
        "user_id": planned.user_id,
        "event": notice.event,
        "resource": notice.resource,
        "channel": planned.channel,
        "destination": planned.destination,
        "language": planned.language,
        "title": rendered.title,
        "body": rendered.body,
        "data": {"event": notice.event, "resource": notice.resource}
        if planned.channel == PUSH
        else None,
        "status": QUEUED,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def _readers(conn: Connection, notice: Notice) -> list[tuple[User, str]]:
    """``(account, audience)`` of each recipient to tell, in order, once each (the first
    audience a user is listed with wins): no account, nothing; an account that is not
    active only hears about itself (``ACCOUNT_EVENTS``)."""
    audiences: dict[str, str] = {}
    for recipient in notice.recipients:
        audiences.setdefault(recipient.user_id, recipient.audience)
    if not audiences:
        return []
    accounts = get_users(conn, list(audiences))
    readers: list[tuple[User, str]] = []
    for user_id, audience in audiences.items():
        user = accounts.get(user_id)
        if user is None:
            log.info("%s: no account %s; nothing sent to it", notice.event, user_id)
        elif notice.event in ACCOUNT_EVENTS or user.is_active:
            readers.append((user, audience))
    return readers


def _routes(
    event: str,
    user: User,
    prefs: prefs_store.Preferences,
    devices: list[dict[str, Any]],
    channels_up: dict[str, bool],
) -> list[tuple[str, str, str]]:
    """``(channel, destination, key suffix)`` for each way ``user`` is told about
    ``event``; ``devices`` are the user's push devices (empty when push cannot go out)."""
    opted_out = event in prefs.opted_out_events
    routes: list[tuple[str, str, str]] = []
    if event in ACCOUNT_EVENTS or (prefs.email_enabled and not opted_out):
        routes.append((EMAIL, user.email, ""))
    if opted_out:
        return routes
    if prefs.sms_enabled and prefs.phone and channels_up[SMS]:
        routes.append((SMS, prefs.phone, ""))
    if prefs.push_enabled and channels_up[PUSH]:
        for device in devices:
            routes.append((PUSH, device["token"], ":" + _device_tag(device["token"])))
    return routes


def _logged_keys(conn: Connection, keys: list[str]) -> set[str]:
    """Those of ``keys`` that are in the delivery log already."""
    if not keys:
        return set()
    return set(
        conn.execute(
            sa.select(delivery_table.c.key).where(delivery_table.c.key.in_(keys))
        ).scalars()
    )
