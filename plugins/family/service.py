"""A person's own Patient record and their children's, written as FHIR plus account links.

Each write is one transaction: the Patient (and, for a child, its RelatedPerson), the
account's ``fhir_user`` and the ``auth_user_patient`` link commit together or not at all.
``platform_core.identity.users.link_patient`` writes the link on the caller's connection
(``conn=``). The account row is locked first (``SELECT ... FOR UPDATE``; on SQLite every write
transaction is ``BEGIN IMMEDIATE`` already), so two concurrent requests of one account
cannot both create a profile or both take the last child place.

After the commit the process forgets what it cached about the account
(``GrantResolver.forget``), so the caller's very next request reaches the new records.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.auth.schema import UserPatientRow, UserRow
from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.identity.users import link_patient, set_fhir_user
from platform_core.web.api import Problem
from plugins.family.details import PersonDetails, display_name, patient_resource

MAX_CHILDREN_DEFAULT = 12
"""``family_max_children`` when not configured."""
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

_USERS = UserRow.__table__
_LINKS = UserPatientRow.__table__


def _locked_account(conn: Connection, user_id: str) -> Any:
    """The caller's account row, locked until the transaction ends."""
    row = conn.execute(
        sa.select(_USERS.c.id, _USERS.c.fhir_user).where(_USERS.c.id == user_id).with_for_update()
    ).first()
    if row is None:  # the token verified a moment ago; the account was deleted since
        raise Problem(401, "Your account no longer exists", title="Unauthorized")
    return row


def _own_patient_id(fhir_user: str | None) -> str | None:
    if fhir_user is None or not fhir_user.startswith("Patient/"):
        return None
    return fhir_user.split("/", 1)[1]


def _link(
    conn: Connection,
    user_id: str,
    patient_id: str,
    relationship: str,
    related_person_id: str | None = None,
) -> None:
    """Link the account to the patient in the caller's transaction."""
    link_patient(conn.engine, user_id, patient_id, relationship, related_person_id, conn=conn)


def _forget(core: Any, user_id: str) -> None:
    """Drop this process's cached grant facts of the account (its patients changed)."""
    core.auth.grants.forget(user_id)


def create_profile(core: Any, user_id: str, details: PersonDetails) -> str:
    """Create the account's own Patient and link the account to it; its id. 409 when the
    account already has its own record."""
    with core.repository.transaction() as conn:
        account = _locked_account(conn, user_id)
        if account.fhir_user is not None:
            raise Problem(
                409,
                f"Your account already has its own record ({account.fhir_user}); "
                "read it with GET /api/family/profile",
            )
        stored = core.repository.create(
            RequestContext.system(actor=f"User/{user_id}"), conn, patient_resource(details)
        )
        set_fhir_user(core.db, user_id, f"Patient/{stored.id}", conn=conn)
        _link(conn, user_id, stored.id, "self")
    _forget(core, user_id)
    return stored.id


def read_profile(core: Any, user_id: str) -> dict[str, Any]:
    """The account's own Patient as FHIR JSON; 404 when it has none (or it was deleted)."""
    with core.repository.read_engine.connect() as conn:
        fhir_user = conn.execute(
            sa.select(_USERS.c.fhir_user).where(_USERS.c.id == user_id)
        ).scalar()
        patient_id = _own_patient_id(fhir_user)
        if patient_id is None:
            raise Problem(404, "You have no record yet; create it with POST /api/family/profile")
        try:
            stored = core.repository.read(RequestContext.system(), "Patient", patient_id, conn=conn)
        except FhirError as exc:
            if exc.status in (404, 410):
                raise Problem(404, f"Your record Patient/{patient_id} no longer exists") from None
            raise
    return stored.resource()


def max_children(core: Any) -> int:
    """How many children one account may add (``family_max_children``)."""
    return int(core.settings.extra.get("family_max_children", MAX_CHILDREN_DEFAULT))


def _children_count(conn: Connection, user_id: str) -> int:
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(_LINKS)
        .where(_LINKS.c.user_id == user_id, _LINKS.c.relationship == "guardian")
    ).scalar_one()


def related_person_resource(child_id: str, guardian: dict[str, Any]) -> dict[str, Any]:
    """The guardian as a RelatedPerson of ``Patient/<child_id>``: a parent, with the name
    and phone numbers of their own Patient record."""
    related: dict[str, Any] = {
        "resourceType": "RelatedPerson",
        "active": True,
        "patient": {"reference": f"Patient/{child_id}"},
        "relationship": [
            {"coding": [{"system": ROLE_CODE_SYSTEM, "code": "PRN", "display": "parent"}]}
        ],
    }
    for element in ("name", "telecom"):
        if guardian.get(element):
            related[element] = guardian[element]
    return related


def add_child(core: Any, user_id: str, details: PersonDetails) -> tuple[str, str]:
    """Create a child's Patient, the caller as its RelatedPerson, and the guardian link;
    ``(patient id, related person id)``. 409 without an own record, 422 past
    ``family_max_children``."""
    limit = max_children(core)
    with core.repository.transaction() as conn:
        account = _locked_account(conn, user_id)
        own_id = _own_patient_id(account.fhir_user)
        if own_id is None:
            raise Problem(
                409, "Create your own record first (POST /api/family/profile), then add children"
            )
        if _children_count(conn, user_id) >= limit:
            raise Problem(422, f"An account may add at most {limit} children")
        try:
            guardian = core.repository.read(RequestContext.system(), "Patient", own_id, conn=conn)
        except FhirError as exc:
            if exc.status in (404, 410):
                raise Problem(
                    409, f"Your own record Patient/{own_id} no longer exists; ask support"
                ) from None
            raise
        writer = RequestContext.system(actor=f"Patient/{own_id}")
        child = core.repository.create(writer, conn, patient_resource(details))
        related = core.repository.create(
            writer, conn, related_person_resource(child.id, guardian.resource())
        )
        _link(conn, user_id, child.id, "guardian", related.id)
    _forget(core, user_id)
    return child.id, related.id


def list_children(core: Any, user_id: str) -> list[dict[str, Any]]:
    """The caller's children (guardian links only), oldest link first; children whose
    record was deleted are left out."""
    with core.repository.read_engine.connect() as conn:
        links = conn.execute(
            sa.select(_LINKS.c.patient_id, _LINKS.c.related_person_id)
            .where(_LINKS.c.user_id == user_id, _LINKS.c.relationship == "guardian")
            .order_by(_LINKS.c.created_at, _LINKS.c.patient_id)
        ).all()
        children = []
        for link in links:
            try:
                stored = core.repository.read(
                    RequestContext.system(), "Patient", link.patient_id, conn=conn
                )
            except FhirError as exc:
                if exc.status in (404, 410):
                    continue
                raise
            patient = stored.resource()
            children.append(
                {
                    "patient": link.patient_id,
                    "name": display_name(patient),
                    "birthDate": patient.get("birthDate"),
                    "related_person": link.related_person_id,
                }
            )
    return children
