"""The reviews API under ``/api/reviews`` (docs/reviews.md).

Thin views: who is calling (401 without a valid token), what their role allows (403),
the body or query checked (400 naming the field), then the service, then the answer.
An appointment the caller may not act for answers 404 exactly like an unknown one.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request

from platform_core.auth.grants import ADMIN_ROLES
from platform_core.fhir.context import RequestContext
from platform_core.web.api import (
    ApiBlueprint,
    Problem,
    acts_for,
    caller,
    grant_of,
    require,
    require_access,
)
from plugins.reviews import service, validation
from plugins.reviews.appointments import FULFILLED, read_appointment
from plugins.reviews.authors import AuthorNames

REVIEWERS = frozenset({"patient", "guardian"})


class NewReviewSchema(ma.Schema):
    """The body of ``POST /api/reviews`` (checked by the view, documented here)."""

    appointment = ma.fields.String(required=True, metadata={"description": "Appointment id"})
    stars = ma.fields.Integer(required=True, metadata={"minimum": 1, "maximum": 5})
    text = ma.fields.String(
        allow_none=True, metadata={"description": "plain text, at most 2000 characters"}
    )


class HideSchema(ma.Schema):
    """The body of ``POST /api/reviews/<id>/hide``."""

    reason = ma.fields.String(required=True)


class OwnReviewSchema(ma.Schema):
    """A review as its author sees it."""

    id = ma.fields.String()
    appointment = ma.fields.String()
    practitioner = ma.fields.String()
    patient = ma.fields.String()
    stars = ma.fields.Integer()
    text = ma.fields.String(allow_none=True)
    created_at = ma.fields.String(metadata={"description": "FHIR instant"})
    hidden = ma.fields.Boolean()
    hidden_at = ma.fields.String(allow_none=True)
    hidden_reason = ma.fields.String(allow_none=True)


class AdminReviewSchema(OwnReviewSchema):
    """A review as an admin sees it."""

    author_user_id = ma.fields.String()
    hidden_by = ma.fields.String(allow_none=True)


class PublicReviewSchema(ma.Schema):
    """A review as anyone signed in sees it."""

    id = ma.fields.String()
    practitioner = ma.fields.String()
    stars = ma.fields.Integer()
    text = ma.fields.String(allow_none=True)
    created_at = ma.fields.String()
    author = ma.fields.String(metadata={"description": '"Ada O." or "A patient"'})


class PractitionerReviewsSchema(ma.Schema):
    """A page of a practitioner's visible reviews, with their rating."""

    practitioner = ma.fields.String()
    average = ma.fields.Float(allow_none=True, metadata={"description": "2 decimals"})
    count = ma.fields.Integer(metadata={"description": "visible reviews in all"})
    limit = ma.fields.Integer()
    offset = ma.fields.Integer()
    reviews = ma.fields.List(ma.fields.Nested(PublicReviewSchema))


class OwnReviewsSchema(ma.Schema):
    """A page of the caller's own reviews."""

    limit = ma.fields.Integer()
    offset = ma.fields.Integer()
    reviews = ma.fields.List(ma.fields.Nested(OwnReviewSchema))


def _core() -> Any:
    return current_app.extensions["fireside"]


def _user_id(ctx: RequestContext, why: str) -> str:
    """The signed-in user behind the token; 403 for a backend or anonymous caller."""
    grant = grant_of(ctx)
    if grant is None or grant.user_id is None:
        raise Problem(403, why, title="Forbidden")
    return grant.user_id


def _not_found_appointment(appointment_id: str) -> Problem:
    return Problem(
        404,
        f"No appointment {appointment_id} that you may review: give the id of one of your "
        "own (or your child's) appointments",
        title="Not Found",
    )


def _review_id(raw: str) -> str:
    found = validation.review_id(raw)
    if found is None:
        raise _not_found_review(raw)
    return found


def _not_found_review(raw: str) -> Problem:
    return Problem(404, f"No review {raw}", title="Not Found")


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    bp = ApiBlueprint(
        "reviews",
        __name__,
        url_prefix="/api/reviews",
        description="Reviews of fulfilled appointments and practitioners' ratings "
        "(docs/reviews.md)",
    )

    @bp.route("/", methods=["POST"], strict_slashes=False)
    @bp.doc(requestBody={"content": {"application/json": {"schema": NewReviewSchema}}})
    @bp.response(201, OwnReviewSchema)
    @bp.alt_response(400, description="Bad field (problem+json naming it)")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="Not a patient or guardian")
    @bp.alt_response(404, description="Unknown appointment, or not the caller's")
    @bp.alt_response(409, description="Not fulfilled yet, or reviewed already")
    def create_review() -> dict[str, Any]:
        """Review a fulfilled appointment: one review per appointment, by its patient or
        their guardian."""
        ctx = caller()
        require(ctx, roles=REVIEWERS)
        require_access(ctx, "read", "Appointment")
        author = _user_id(ctx, "Reviews are written by a signed-in patient or guardian")
        body = validation.new_review(request.get_json(silent=True))
        core = _core()
        appointment = read_appointment(core, body.appointment_id)
        if (
            appointment is None
            or appointment.patient_id is None
            or not acts_for(ctx, appointment.patient_id)
        ):
            raise _not_found_appointment(body.appointment_id)
        if appointment.status != FULFILLED:
            raise Problem(
                409,
                "A review can be left only after a fulfilled consultation; this appointment "
                f"is {appointment.status or 'without a status'}",
                title="Conflict",
                appointment_status=appointment.status,
            )
        if appointment.practitioner_id is None:
            raise Problem(422, "This appointment names no practitioner to review")
        try:
            review = service.create_review(
                core,
                appointment_id=appointment.id,
                practitioner_id=appointment.practitioner_id,
                patient_id=appointment.patient_id,
                author_user_id=author,
                stars=body.stars,
                text=body.text,
            )
        except service.AlreadyReviewed:
            raise Problem(
                409, "This appointment has been reviewed already", title="Conflict"
            ) from None
        return review.own_json()

    @bp.route("/practitioners/<practitioner_id>")
    @bp.response(200, PractitionerReviewsSchema)
    @bp.alt_response(400, description="Bad limit or offset")
    @bp.alt_response(401, description="No valid bearer token")
    def practitioner_reviews(practitioner_id: str) -> dict[str, Any]:
        """A practitioner's visible reviews, newest first, with their average and count."""
        caller()
        limit, offset = validation.paging(request.args)
        core = _core()
        with core.db.connect() as conn:
            rating = service.rating(conn, practitioner_id)
            reviews = service.visible_reviews(conn, practitioner_id, limit=limit, offset=offset)
        names = AuthorNames(core)
        return {
            "practitioner": practitioner_id,
            **rating.as_json(),
            "limit": limit,
            "offset": offset,
            "reviews": [r.public_json(names(r.author_user_id)) for r in reviews],
        }

    @bp.route("/mine")
    @bp.response(200, OwnReviewsSchema)
    @bp.alt_response(400, description="Bad limit or offset")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="Not a signed-in user")
    def my_reviews() -> dict[str, Any]:
        """The caller's own reviews, newest first, hidden ones included (with the reason)."""
        ctx = caller()
        author = _user_id(ctx, "Only a signed-in user has reviews of their own")
        limit, offset = validation.paging(request.args)
        with _core().db.connect() as conn:
            reviews = service.reviews_by_author(conn, author, limit=limit, offset=offset)
        return {"limit": limit, "offset": offset, "reviews": [r.own_json() for r in reviews]}

    @bp.route("/<review_id>/hide", methods=["POST"])
    @bp.doc(requestBody={"content": {"application/json": {"schema": HideSchema}}})
    @bp.response(200, AdminReviewSchema)
    @bp.alt_response(400, description="No reason given")
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="Not an admin")
    @bp.alt_response(404, description="Unknown review")
    @bp.alt_response(409, description="Hidden already")
    def hide(review_id: str) -> dict[str, Any]:
        """Hide a review (admins): it leaves the listings and the ratings."""
        ctx = caller()
        require(ctx, roles=ADMIN_ROLES)
        reason = validation.hide_reason(request.get_json(silent=True))
        rid = _review_id(review_id)
        grant = grant_of(ctx)
        admin = None if grant is None else grant.user_id
        try:
            review = service.hide_review(_core(), rid, reason=reason, by=admin)
        except service.ReviewNotFound:
            raise _not_found_review(review_id) from None
        except service.WrongVisibility:
            raise Problem(409, "This review is hidden already", title="Conflict") from None
        return review.admin_json()

    @bp.route("/<review_id>/unhide", methods=["POST"])
    @bp.response(200, AdminReviewSchema)
    @bp.alt_response(401, description="No valid bearer token")
    @bp.alt_response(403, description="Not an admin")
    @bp.alt_response(404, description="Unknown review")
    @bp.alt_response(409, description="Not hidden")
    def unhide(review_id: str) -> dict[str, Any]:
        """Show a hidden review again (admins)."""
        require(caller(), roles=ADMIN_ROLES)
        rid = _review_id(review_id)
        try:
            review = service.unhide_review(_core(), rid)
        except service.ReviewNotFound:
            raise _not_found_review(review_id) from None
        except service.WrongVisibility:
            raise Problem(409, "This review is not hidden", title="Conflict") from None
        return review.admin_json()

    return bp
