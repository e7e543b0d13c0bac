"""Who may write a MedicationRequest, enforced on every write (``fhir_resource_before_write``).

The rules hold however the write arrives (FHIR REST, batch and transaction Bundles, PATCH,
this plugin's API), because the repository fires the hook for all of them. They apply to
users only: internal contexts (the server, jobs, this plugin's own API after its checks)
and backend services (``system/`` tokens without a user) pass.

For a user's create or update:

- the role must be ``practitioner`` (403), the practitioner verified (403);
- ``subject`` must be a Patient, ``Patient/<id>`` (422);
- ``requester`` must be the practitioner themselves, their ``fhirUser`` (403);
- they must have a care relationship with the patient (403);
- an update must be to one of their own prescriptions (403).

A user's delete is refused unless the user is an administrator: a prescription is part of
the record and is cancelled (status ``cancelled``), not deleted.

The hook is handed no database connection, so the checks read through a connection of
their own from the app's engine (the plugin learns its app's core when the web app starts,
see :mod:`plugins.prescriptions.plugin`): an Appointment created earlier in the same
transaction Bundle as the MedicationRequest is not seen yet (send it first, in its own
request). Outside a web app (a worker, a command) a user's write is refused with 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from platform_core.auth.grants import ADMIN_ROLES, Grant
from platform_core.fhir.storage import store
from platform_core.identity.care import has_care_relationship, is_verified_practitioner
from platform_core.plugin_api import PendingWrite, RejectWrite
from plugins.prescriptions.resources import reference_id

RESOURCE_TYPE = "MedicationRequest"


def _forbidden(message: str, expression: str | None = None) -> RejectWrite:
    return RejectWrite(message, status=403, expression=expression)


@contextmanager
def _reading(write: PendingWrite, core: Any) -> Iterator[Connection]:
    """A connection to read accounts, care links and the stored resource with."""
    conn = write.conn  # the write's own transaction
    if conn is not None:
        yield conn
        return
    if core is None:
        raise RejectWrite(
            "Prescribing rules can only be checked inside the Fireside web app", status=503
        )
    with core.db.connect() as own:
        yield own


def check_write(write: PendingWrite, core: Any) -> None:
    """Refuse a user's MedicationRequest write that breaks the rules (module docstring).
    ``core`` is the app's core (its database), None when not known."""
    if write.resource_type != RESOURCE_TYPE or write.ctx.internal:
        return
    grant = write.ctx.grant
    if not isinstance(grant, Grant) or grant.user_id is None:
        return  # a backend service: trusted with its system/ scopes
    if write.resource is None:
        if grant.role not in ADMIN_ROLES:
            raise _forbidden(
                "A prescription is not deleted: its prescriber cancels it (status cancelled)"
            )
        return
    if grant.role != "practitioner":
        raise _forbidden(
            f"Only practitioners may write MedicationRequests (your role: {grant.role})"
        )
    kind, _, practitioner_id = (grant.fhir_user or "").partition("/")
    if kind != "Practitioner" or not practitioner_id:
        raise _forbidden("Your account has no Practitioner resource to prescribe as")
    _check_resource(write, core, grant.fhir_user or "", practitioner_id)


def _check_resource(write: PendingWrite, core: Any, me: str, practitioner_id: str) -> None:
    resource: dict[str, Any] = write.resource or {}
    patient_id = reference_id(resource.get("subject"), "Patient")
    with _reading(write, core) as conn:
        if not is_verified_practitioner(conn, practitioner_id):
            raise _forbidden(
                "Only practitioners verified by an administrator may prescribe; "
                "yours is not verified (yet)"
            )
        if patient_id is None:
            raise RejectWrite(
                "A MedicationRequest's subject must be a Patient (Patient/<id>)",
                status=422,
                expression="MedicationRequest.subject",
            )
        if (resource.get("requester") or {}).get("reference") != me:
            raise _forbidden(
                f"requester must be you ({me}): you may only prescribe in your own name",
                "MedicationRequest.requester",
            )
        if not has_care_relationship(conn, practitioner_id, patient_id):
            raise _forbidden(
                f"You have no care relationship with Patient/{patient_id}: book an "
                "appointment with the patient or be assigned to them by an administrator first",
                "MedicationRequest.subject",
            )
        if write.interaction == "update" and write.resource_id:
            owner = _current_requester(conn, write.resource_id)
            if owner is not None and owner != me:
                raise _forbidden(
                    f"MedicationRequest/{write.resource_id} was prescribed by {owner}; "
                    "only its prescriber may change it"
                )


def _current_requester(conn: Connection, resource_id: str) -> str | None:
    """The requester of the stored MedicationRequest (None when there is none yet)."""
    current = store.read_current(conn, RESOURCE_TYPE, resource_id)
    if current is None or current.deleted:
        return None  # the update creates it
    return (current.resource().get("requester") or {}).get("reference") or ""
