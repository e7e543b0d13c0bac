"""``/api/family``: a signed-in patient or guardian creates their own Patient record and
their children's (docs/family.md).

Thin views: work out and gate the caller (a user with role ``patient`` or ``guardian`` whose
token allows the FHIR interactions the view performs), check the body, call
:mod:`plugins.family.service`, render. Errors are problem+json.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from marshmallow import fields

from platform_core.web.api import (
    ApiBlueprint,
    Problem,
    caller,
    grant_of,
    require,
    require_access,
)
from plugins.family import service
from plugins.family.details import parse_details

FAMILY_ROLES = frozenset({"patient", "guardian"})
"""Who keeps a family record: patients (who may be parents too) and guardians."""


class ProfileCreatedSchema(ma.Schema):
    patient = fields.String(required=True, metadata={"description": "The new Patient's id"})


class ChildCreatedSchema(ma.Schema):
    patient = fields.String(required=True, metadata={"description": "The child's Patient id"})
    related_person = fields.String(
        required=True, metadata={"description": "The caller as the child's RelatedPerson"}
    )


class ChildSchema(ma.Schema):
    patient = fields.String(required=True)
    name = fields.String(required=True)
    birthDate = fields.String(allow_none=True)  # the FHIR element's name
    related_person = fields.String(allow_none=True)


def _family_user(*interactions: tuple[str, str]) -> str:
    """The caller's account id: 401 without a valid token, 403 unless a patient or guardian
    whose token allows each ``(interaction, resource type)``."""
    ctx = caller()
    require(ctx, roles=FAMILY_ROLES)
    grant = grant_of(ctx)
    if grant is None or grant.user_id is None:
        raise Problem(
            403, "Only a signed-in patient or guardian keeps a family record", title="Forbidden"
        )
    for interaction, resource_type in interactions:
        require_access(ctx, interaction, resource_type)
    return grant.user_id


def _body() -> Any:
    """The request's JSON body; 400 when it is not JSON."""
    body = request.get_json(silent=True)
    if body is None:
        raise Problem(400, "Send a JSON object with Content-Type: application/json")
    return body


def make_blueprint() -> ApiBlueprint:
    """The blueprint (a new one per app: flask-smorest keeps per-app state on it)."""
    blp = ApiBlueprint(
        "family",
        __name__,
        url_prefix="/api/family",
        description="Your own Patient record and your children's (docs/family.md)",
    )

    @blp.post("/profile")
    @blp.response(201, ProfileCreatedSchema)
    def create_profile() -> dict[str, str]:
        """Create your own Patient record.

        Body: ``name`` (``given``, ``family``), ``birthDate`` (YYYY-MM-DD), ``gender``,
        optional ``phone`` (E.164) and ``language`` (BCP-47). 409 when you have one."""
        user_id = _family_user(("create", "Patient"))
        details = parse_details(_body(), contact=True)
        core = current_app.extensions["fireside"]
        return {"patient": service.create_profile(core, user_id, details)}

    @blp.get("/profile")
    @blp.response(200)
    def read_profile() -> dict[str, Any]:
        """Your own Patient record (FHIR JSON); 404 when you have none yet."""
        user_id = _family_user(("read", "Patient"))
        return service.read_profile(current_app.extensions["fireside"], user_id)

    @blp.post("/children")
    @blp.response(201, ChildCreatedSchema)
    def add_child() -> dict[str, str]:
        """Add a child: their Patient record, you as their RelatedPerson (a parent), and the
        link that lets you act for them.

        Body: ``name``, ``birthDate``, ``gender``. 409 before you have your own record, 422
        past ``family_max_children``."""
        user_id = _family_user(("create", "Patient"), ("create", "RelatedPerson"))
        details = parse_details(_body(), contact=False)
        core = current_app.extensions["fireside"]
        child, related = service.add_child(core, user_id, details)
        return {"patient": child, "related_person": related}

    @blp.get("/children")
    @blp.response(200, ChildSchema(many=True))
    def list_children() -> list[dict[str, Any]]:
        """Your children (the patients you are a guardian of)."""
        user_id = _family_user(("read", "Patient"))
        return service.list_children(current_app.extensions["fireside"], user_id)

    return blp
