"""Users' notification preferences and push devices: reading them with their defaults,
checking a change, and saving it.

A user who never saved preferences gets the defaults: the configured language and time
zone, no phone, every channel on, no event opted out. ``PUT /api/notifications/preferences``
changes only the fields it names; :func:`validate_change` refuses the whole body (naming the
field) before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.fhir.instants import now_utc
from plugins.notifications.catalog import (
    EVENTS,
    LANGUAGES,
    PLATFORMS,
    NotificationSettings,
    known_zones,
)
from plugins.notifications.schema import TOKEN_LENGTH, device_table, preference_table

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
FIELDS = (
    "language",
    "time_zone",
    "phone",
    "email_enabled",
    "sms_enabled",
    "push_enabled",
    "opted_out_events",
)
"""What ``PUT /preferences`` may set."""


class InvalidPreference(ValueError):
    """A preference change that cannot be saved; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Preferences:
    """One user's preferences as stored (``None``: the configured default)."""

    language: str | None = None
    time_zone: str | None = None
    phone: str | None = None
    email_enabled: bool = True
    sms_enabled: bool = True
    push_enabled: bool = True
    opted_out_events: tuple[str, ...] = ()
    updated_at: Any = None

    def effective_language(self, settings: NotificationSettings) -> str:
        return self.language or settings.default_language

    def effective_time_zone(self, settings: NotificationSettings) -> str:
        return self.time_zone or settings.default_time_zone

    def zone(self, settings: NotificationSettings) -> ZoneInfo:
        """The zone times are shown in (UTC when the configured default is not a zone)."""
        return zone_or_utc(self.effective_time_zone(settings))


def zone_or_utc(name: str) -> ZoneInfo:
    return ZoneInfo(name) if name in known_zones() else ZoneInfo("UTC")


def load(conn: Connection, user_id: str) -> Preferences:
    """The user's preferences (the defaults when they never saved any)."""
    row = conn.execute(
        sa.select(preference_table).where(preference_table.c.user_id == user_id)
    ).first()
    return Preferences() if row is None else _from_row(row)


def load_many(conn: Connection, user_ids: Collection[str]) -> dict[str, Preferences]:
    """Each user's preferences (the defaults for those who never saved any), in one
    query."""
    found: dict[str, Preferences] = {}
    if user_ids:
        rows = conn.execute(
            sa.select(preference_table).where(preference_table.c.user_id.in_(list(user_ids)))
        )
        found = {row.user_id: _from_row(row) for row in rows}
    return {user_id: found.get(user_id) or Preferences() for user_id in user_ids}


def _from_row(row: Any) -> Preferences:
    return Preferences(
        language=row.language,
        time_zone=row.time_zone,
        phone=row.phone,
        email_enabled=bool(row.email_enabled),
        sms_enabled=bool(row.sms_enabled),
        push_enabled=bool(row.push_enabled),
        opted_out_events=tuple(row.opted_out_events or ()),
        updated_at=row.updated_at,
    )


def validate_change(body: Any) -> dict[str, Any]:
    """The fields of a ``PUT /preferences`` body, checked and normalised; raises
    :class:`InvalidPreference` for the first bad one."""
    if not isinstance(body, dict):
        raise InvalidPreference("body", "send a JSON object of preference fields")
    change: dict[str, Any] = {}
    for name, value in body.items():
        if name not in FIELDS:
            raise InvalidPreference(name, f"unknown field; known: {', '.join(FIELDS)}")
        change[name] = _check(name, value)
    return change


def _check(name: str, value: Any) -> Any:
    if name.endswith("_enabled"):
        if not isinstance(value, bool):
            raise InvalidPreference(name, "must be true or false")
        return value
    if name == "opted_out_events":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidPreference(name, "must be a list of event names")
        unknown = sorted(set(value) - set(EVENTS))
        if unknown:
            raise InvalidPreference(
                name, f"unknown event {', '.join(unknown)}; known: {', '.join(EVENTS)}"
            )
        return sorted(set(value))
    if value is None:
        return None  # back to the default (language, time zone) or no phone
    if not isinstance(value, str):
        raise InvalidPreference(name, "must be a string or null")
    if name == "language" and value not in LANGUAGES:
        raise InvalidPreference(name, f"{value!r} is not supported; one of {', '.join(LANGUAGES)}")
    if name == "time_zone" and value not in known_zones():
        raise InvalidPreference(name, f"{value!r} is not an IANA time zone (Africa/Lagos...)")
    if name == "phone" and not E164.match(value):
        raise InvalidPreference(name, "must be an E.164 number: + and 7 to 15 digits")
    return value


def save(conn: Connection, user_id: str, change: dict[str, Any]) -> Preferences:
    """Apply a checked change (:func:`validate_change`) to the user's preferences."""
    current = load(conn, user_id)
    fields = {**change}
    if "opted_out_events" in fields:
        fields["opted_out_events"] = tuple(fields["opted_out_events"])
    updated = replace(current, **fields, updated_at=now_utc())
    values = {
        "language": updated.language,
        "time_zone": updated.time_zone,
        "phone": updated.phone,
        "email_enabled": updated.email_enabled,
        "sms_enabled": updated.sms_enabled,
        "push_enabled": updated.push_enabled,
        "opted_out_events": list(updated.opted_out_events),
        "updated_at": updated.updated_at,
    }
    if current.updated_at is None:
        conn.execute(sa.insert(preference_table).values(user_id=user_id, **values))
    else:
        conn.execute(
            sa.update(preference_table)
            .where(preference_table.c.user_id == user_id)
            .values(**values)
        )
    return updated


# --- push devices -------------------------------------------------------------------------


def validate_device(body: Any) -> tuple[str, str]:
    """``(token, platform)`` of a ``POST /devices`` body; :class:`InvalidPreference`."""
    if not isinstance(body, dict):
        raise InvalidPreference("body", 'send {"token": "...", "platform": "android"}')
    unknown = sorted(set(body) - {"token", "platform"})
    if unknown:
        raise InvalidPreference(unknown[0], "unknown field; known: token, platform")
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise InvalidPreference("token", "the device's push registration token is required")
    if len(token) > TOKEN_LENGTH or not token.isprintable() or any(c.isspace() for c in token):
        raise InvalidPreference(
            "token", f"must be at most {TOKEN_LENGTH} printable characters without spaces"
        )
    platform = body.get("platform")
    if platform not in PLATFORMS:
        raise InvalidPreference("platform", f"must be one of {', '.join(PLATFORMS)}")
    return token, str(platform)


def register_device(conn: Connection, user_id: str, token: str, platform: str) -> dict[str, Any]:
    """Register ``token`` for ``user_id``; a token another user registered moves over (a
    device has one owner: whoever signed in on it last)."""
    now = now_utc()
    existing = conn.execute(
        sa.select(device_table.c.id).where(device_table.c.token == token)
    ).scalar()
    values = {"user_id": user_id, "platform": platform, "created_at": now}
    if existing is None:
        conn.execute(sa.insert(device_table).values(token=token, **values))
    else:
        conn.execute(sa.update(device_table).where(device_table.c.id == existing).values(**values))
    return {"token": token, "platform": platform, "created_at": now}


def remove_device(conn: Connection, user_id: str, token: str) -> bool:
    """Forget the user's ``token``; False when they have no such device."""
    result = conn.execute(
        sa.delete(device_table).where(
            device_table.c.token == token, device_table.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


def devices(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    """The user's registered devices, oldest first."""
    return devices_of(conn, [user_id])[user_id]


def devices_of(conn: Connection, user_ids: Collection[str]) -> dict[str, list[dict[str, Any]]]:
    """Each user's registered devices, oldest first (an empty list for a user without
    any), in one query."""
    found: dict[str, list[dict[str, Any]]] = {user_id: [] for user_id in user_ids}
    if not found:
        return found
    rows = conn.execute(
        sa.select(
            device_table.c.user_id,
            device_table.c.token,
            device_table.c.platform,
            device_table.c.created_at,
        )
        .where(device_table.c.user_id.in_(list(found)))
        .order_by(device_table.c.created_at, device_table.c.id)
    )
    for row in rows:
        found[row.user_id].append(
            {"token": row.token, "platform": row.platform, "created_at": row.created_at}
        )
    return found
