"""Who may do what in care: whether a practitioner is verified, and whether they have a care
relationship with a patient.

These are questions several plugins ask (scheduling: may this practitioner publish
availability; prescriptions: may they prescribe for this patient), so their answers live in
the core, next to the accounts they read, instead of in any one plugin.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from platform_core.auth.grants import _appointment_patients
from platform_core.auth.schema import UserPatientRow, UserRow

_USERS = UserRow.__table__
_LINKS = UserPatientRow.__table__


def practitioner_user_id(conn: Connection, practitioner_id: str) -> str | None:
    """The id of the account whose own resource is ``Practitioner/<practitioner_id>``."""
    return conn.execute(
        sa.select(_USERS.c.id).where(
            _USERS.c.fhir_user == f"Practitioner/{practitioner_id}",
            _USERS.c.role == "practitioner",
        )
    ).scalar()


def is_verified_practitioner(conn: Connection, practitioner_id: str) -> bool:
    """Whether ``Practitioner/<practitioner_id>`` belongs to an active practitioner account
    an admin has verified. Suspending the account ends this at once."""
    row = conn.execute(
        sa.select(_USERS.c.id).where(
            _USERS.c.fhir_user == f"Practitioner/{practitioner_id}",
            _USERS.c.role == "practitioner",
            _USERS.c.status == "active",
            _USERS.c.verified_at.is_not(None),
        )
    ).first()
    return row is not None


def has_care_relationship(conn: Connection, practitioner_id: str, patient_id: str) -> bool:
    """Whether the practitioner cares for the patient: an Appointment names both, or an
    admin assigned the patient to the practitioner's account (a ``care`` link)."""
    user_id = practitioner_user_id(conn, practitioner_id)
    if user_id is not None:
        assigned = conn.execute(
            sa.select(_LINKS.c.user_id).where(
                _LINKS.c.user_id == user_id,
                _LINKS.c.patient_id == patient_id,
                _LINKS.c.relationship == "care",
            )
        ).first()
        if assigned is not None:
            return True
    return patient_id in _appointment_patients(conn, f"Practitioner/{practitioner_id}")


def guardians_and_self(conn: Connection, patient_id: str) -> list[str]:
    """The ids of the accounts that act for the patient as the patient or a guardian (the
    people to tell about the patient's care)."""
    linked = conn.execute(
        sa.select(_LINKS.c.user_id).where(
            _LINKS.c.patient_id == patient_id, _LINKS.c.relationship.in_(("self", "guardian"))
        )
    ).scalars()
    own = conn.execute(
        sa.select(_USERS.c.id).where(_USERS.c.fhir_user == f"Patient/{patient_id}")
    ).scalars()
    return sorted(set(linked) | set(own))
