"""``/api/notifications``: a user's preferences and push devices, and the delivery log.

* ``GET /preferences``, ``PUT /preferences``: the caller's own (any signed-in user).
* ``POST /devices``, ``DELETE /devices/<token>``: the caller's push registration tokens.
* ``GET /deliveries``: the caller's own deliveries; admins see everyone's (``?user=`` to
  narrow), without the text of other users' messages.

Every route needs a user's bearer token: 401 without a valid one, 403 for a token with no
user (a backend service). Bad input answers 400 naming the field, and writes nothing.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask import Response, current_app, request
from marshmallow import fields

from platform_core.auth.grants import ADMIN_ROLES
from platform_core.fhir.instants import format_instant
from platform_core.web.api import ApiBlueprint, Problem, caller, grant_of
from plugins.notifications import preferences as prefs_store
from plugins.notifications.catalog import (
    ACCOUNT_EVENTS,
    CHANNELS,
    EVENTS,
    LANGUAGES,
    PLATFORMS,
    STATUSES,
    NotificationSettings,
)
from plugins.notifications.preferences import InvalidPreference
from plugins.notifications.schema import delivery_table

MAX_LIMIT = 200


class PreferencesSchema(ma.Schema):
    language = fields.String(metadata={"enum": list(LANGUAGES)})
    time_zone = fields.String(metadata={"description": "IANA zone (Africa/Lagos)"})
    phone = fields.String(allow_none=True, metadata={"description": "E.164, or null"})
    email_enabled = fields.Boolean()
    sms_enabled = fields.Boolean()
    push_enabled = fields.Boolean()
    opted_out_events = fields.List(fields.String(metadata={"enum": list(EVENTS)}))
    updated_at = fields.String(allow_none=True, metadata={"description": "null: never saved"})
    devices = fields.List(fields.Dict(), metadata={"description": "push registrations"})
    catalog = fields.Dict(metadata={"description": "events, always_by_email, languages"})


class DeliverySchema(ma.Schema):
    id = fields.Integer()
    user_id = fields.String()
    event = fields.String(metadata={"enum": list(EVENTS)})
    resource = fields.String(metadata={"description": "what it is about: Appointment/<id>"})
    channel = fields.String(metadata={"enum": list(CHANNELS)})
    status = fields.String(metadata={"enum": list(STATUSES)})
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    created_at = fields.String()
    sent_at = fields.String(allow_none=True)
    to = fields.String(metadata={"description": "the caller's own deliveries only"})
    title = fields.String(allow_none=True, metadata={"description": "own deliveries only"})
    body = fields.String(metadata={"description": "own deliveries only"})


class DeliveryListSchema(ma.Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


def _core() -> Any:
    return current_app.extensions["fireside"]


def _caller() -> tuple[str, str | None]:
    """``(user id, role)`` of the caller; 401 without a valid token, 403 without a user."""
    grant = grant_of(caller())
    if grant is None or grant.user_id is None:
        raise Problem(
            403, "Notifications belong to user accounts: use a user's token", title="Forbidden"
        )
    return grant.user_id, grant.role


def _bad(field: str, message: str, location: str = "json") -> Problem:
    return Problem(
        400, f"{field}: {message}", title="Bad Request", errors={location: {field: [message]}}
    )


def _concurrent() -> Problem:
    """Two first saves raced (a unique key refused the second): nothing of it was kept."""
    return Problem(409, "Changed by another request at the same time; send it again")


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise _bad("body", "send a JSON object (Content-Type: application/json)")
    return body


def _instant(value: Any) -> str | None:
    return format_instant(value) if value is not None else None


def _preferences_json(conn: Any, user_id: str, prefs: prefs_store.Preferences) -> dict[str, Any]:
    settings = NotificationSettings.of(_core().settings)
    return {
        "language": prefs.effective_language(settings),
        "time_zone": prefs.effective_time_zone(settings),
        "phone": prefs.phone,
        "email_enabled": prefs.email_enabled,
        "sms_enabled": prefs.sms_enabled,
        "push_enabled": prefs.push_enabled,
        "opted_out_events": list(prefs.opted_out_events),
        "updated_at": _instant(prefs.updated_at),
        "devices": [
            {**d, "created_at": _instant(d["created_at"])}
            for d in prefs_store.devices(conn, user_id)
        ],
        "catalog": {
            "events": list(EVENTS),
            "always_by_email": sorted(ACCOUNT_EVENTS),
            "languages": list(LANGUAGES),
            "platforms": list(PLATFORMS),
        },
    }


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise _bad(name, "must be a whole number", "query")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"{low} to {high}" if high is not None else f"at least {low}"
        raise _bad(name, f"must be {bounds}", "query")
    return value


def _delivery_json(row: Any, viewer: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "user_id": row.user_id,
        "event": row.event,
        "resource": row.resource,
        "channel": row.channel,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error,
        "provider": row.provider,
        "created_at": _instant(row.created_at),
        "sent_at": _instant(row.sent_at),
    }
    if row.user_id == viewer:  # message text and address: their owner only
        out.update(to=row.destination, title=row.title, body=row.body)
    return out


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    bp = ApiBlueprint(
        "notifications",
        __name__,
        url_prefix="/api/notifications",
        description="Notification preferences, push devices and the delivery log "
        "(docs/notifications.md).",
    )

    @bp.route("/preferences", methods=["GET"])
    @bp.response(200, PreferencesSchema)
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="A token without a user")
    def get_preferences() -> dict[str, Any]:
        """The caller's preferences (the defaults until they save some)."""
        user_id, _ = _caller()
        with _core().db.connect() as conn:
            return _preferences_json(conn, user_id, prefs_store.load(conn, user_id))

    @bp.route("/preferences", methods=["PUT"])
    @bp.response(200, PreferencesSchema)
    @bp.alt_response(400, description="A bad field (problem+json naming it); nothing saved")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="A token without a user")
    @bp.alt_response(409, description="A concurrent first save won; send it again")
    def put_preferences() -> dict[str, Any]:
        """Change the fields given (the others keep their values); ``null`` puts language
        and time zone back to the default, or removes the phone."""
        user_id, _ = _caller()
        try:
            change = prefs_store.validate_change(_json_body())
        except InvalidPreference as exc:
            raise _bad(exc.field, exc.message) from None
        try:
            with _core().repository.transaction() as conn:
                saved = prefs_store.save(conn, user_id, change)
                return _preferences_json(conn, user_id, saved)
        except sa.exc.IntegrityError:
            raise _concurrent() from None

    @bp.route("/devices", methods=["POST"])
    @bp.response(201)
    @bp.alt_response(400, description="A bad token or platform; nothing saved")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="A token without a user")
    @bp.alt_response(409, description="The same token registered concurrently; send it again")
    def post_device() -> tuple[dict[str, Any], int]:
        """Register a push token (``{"token", "platform": android|ios|web}``); a token
        another user registered moves to the caller."""
        user_id, _ = _caller()
        try:
            token, platform = prefs_store.validate_device(_json_body())
        except InvalidPreference as exc:
            raise _bad(exc.field, exc.message) from None
        try:
            with _core().repository.transaction() as conn:
                device = prefs_store.register_device(conn, user_id, token, platform)
        except sa.exc.IntegrityError:
            raise _concurrent() from None
        return {**device, "created_at": _instant(device["created_at"])}, 201

    @bp.route("/devices/<path:token>", methods=["DELETE"])
    @bp.response(204)
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="A token without a user")
    @bp.alt_response(404, description="The caller has no device with this token")
    def delete_device(token: str) -> Response:
        """Forget one of the caller's push tokens."""
        user_id, _ = _caller()
        with _core().repository.transaction() as conn:
            removed = prefs_store.remove_device(conn, user_id, token)
        if not removed:
            raise Problem(404, "You have no device registered with this token", title="Not Found")
        return Response(status=204)

    @bp.route("/deliveries", methods=["GET"])
    @bp.response(200, DeliveryListSchema)
    @bp.alt_response(400, description="A bad status, user, limit or offset")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="Another user's deliveries, asked by a non-admin")
    def list_deliveries() -> dict[str, Any]:
        """Deliveries, newest first: the caller's own; an admin's view spans every user
        (``user`` narrows it) but shows the text only of the admin's own messages."""
        user_id, role = _caller()
        status = request.args.get("status")
        if status is not None and status not in STATUSES:
            raise _bad("status", f"must be one of {', '.join(STATUSES)}", "query")
        limit = _int_arg("limit", 50, 1, MAX_LIMIT)
        offset = _int_arg("offset", 0, 0)
        wanted = request.args.get("user")
        admin = role in ADMIN_ROLES
        if wanted is not None and wanted != user_id and not admin:
            raise Problem(403, "Only admins may read other users' deliveries", title="Forbidden")
        conditions = []
        if wanted is not None:
            conditions.append(delivery_table.c.user_id == wanted)
        elif not admin:
            conditions.append(delivery_table.c.user_id == user_id)
        if status is not None:
            conditions.append(delivery_table.c.status == status)
        query = sa.select(delivery_table).where(*conditions)
        with _core().db.connect() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).select_from(delivery_table).where(*conditions)
            ).scalar_one()
            rows = conn.execute(
                query.order_by(delivery_table.c.created_at.desc(), delivery_table.c.id.desc())
                .limit(limit)
                .offset(offset)
            ).all()
        return {
            "deliveries": [_delivery_json(row, user_id) for row in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }

    @bp.after_request
    def _private(response: Response) -> Response:
        response.headers["Cache-Control"] = "private, no-store"
        return response

    return bp
