"""What a verified access token lets its caller reach: the token's scopes plus, for a user's
token, the user's role and the patients the user may act for.

Whether a user's token may be used at all is read from ``auth_user`` on every verification:
one primary-key lookup of the account's role, status, token generation and FHIR resource,
on the autocommit read pool (one round trip on PostgreSQL), through the driver's cursor
(it is on every user request, and SQLAlchemy's statement layer would add about half again
to it). So a suspension or a password change (both bump ``token_generation``; a suspension
also sets ``status``) refuses the account's tokens on the very next request, in every
process and on every node sharing the database, with nothing to invalidate. Only the
patients a user may act for, which take more queries (links, and a practitioner's
appointments), are kept per process for up to a second (:data:`_PATIENTS_TTL_S`), and
recomputed at once when the role or FHIR resource read with the account differs from what
they were computed for.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from platform_core.auth.schema import UserPatientRow, UserRow
from platform_core.auth.scopes import ScopeSet
from platform_core.auth.tokens import AccessToken
from platform_core.db.schema import INDEX_TABLES

STAFF_ROLES = frozenset({"practitioner", "pharmacist", "admin", "super_admin"})
"""Roles that may write resources outside any patient's compartment (Schedule, Slot,
Medication...)."""
ADMIN_ROLES = frozenset({"admin", "super_admin"})
"""Roles whose ``user/`` scopes reach every patient, and who may read audit records."""
_PATIENTS_TTL_S = 1.0
"""How long a process trusts the patients it computed for a user: a new link or
appointment reaches the user's tokens everywhere within this time (at once in the process
that calls :meth:`GrantResolver.forget`)."""
_ACCOUNT_SQL = (
    "SELECT role, status, token_generation, fhir_user FROM "
    + UserRow.__tablename__
    + " WHERE id = {placeholder}"
)


class RevokedGrant(Exception):
    """The token's user is gone, suspended, or changed their password after it was issued."""


@dataclass(frozen=True)
class Grant:
    """The caller's reach, as the access policy reads it."""

    scopes: ScopeSet
    client_id: str
    patient: str | None = None
    """The launch patient, which confines ``patient/`` scopes."""
    user_id: str | None = None
    role: str | None = None
    fhir_user: str | None = None
    user_patients: frozenset[str] | None = frozenset()
    """Patients the user may act for through ``user/`` scopes; None: every patient."""


@dataclass(frozen=True)
class _Patients:
    """The patients computed for a user, and what they were computed from."""

    role: str
    fhir_user: str | None
    patients: frozenset[str] | None
    at: float
    """``time.monotonic()`` when computed."""


class GrantResolver:
    """Turns verified access tokens into :class:`Grant` objects.

    ``db`` is the engine for reads (on PostgreSQL the autocommit pool: a lookup is one round
    trip with no BEGIN or ROLLBACK)."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._patients: dict[str, _Patients] = {}
        self._lock = threading.Lock()
        placeholder = "?" if db.dialect.paramstyle == "qmark" else "%s"
        self._account_sql = _ACCOUNT_SQL.format(placeholder=placeholder)

    def grant_for(self, token: AccessToken) -> Grant:
        """The grant of ``token``; raises :class:`RevokedGrant` when its user may no longer
        use it (as the database says now, not a cached answer)."""
        scopes = ScopeSet.parse(token.scope)
        if token.user_id is None:
            return Grant(scopes, token.client_id, patient=token.patient, user_patients=None)
        account = self._account(token.user_id)
        if account is None or account[1] != "active":
            raise RevokedGrant("the token's user is not active")
        role, _, generation, fhir_user = account
        if token.generation is not None and token.generation != generation:
            raise RevokedGrant("the token was revoked by a password change")
        return Grant(
            scopes,
            token.client_id,
            patient=token.patient,
            user_id=token.user_id,
            role=role,
            fhir_user=fhir_user,
            user_patients=self._patients_of(token.user_id, role, fhir_user),
        )

    def _account(self, user_id: str) -> tuple[str, str, int, str | None] | None:
        """``(role, status, token_generation, fhir_user)`` as committed now, or None."""
        raw = self.db.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self._account_sql, (user_id,))
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool
        return None if row is None else (row[0], row[1], int(row[2]), row[3])

    def forget(self, user_id: str) -> None:
        """Drop the patients this process computed for a user (after linking them to a
        patient), so their next request sees the change at once here."""
        with self._lock:
            self._patients.pop(user_id, None)

    def _patients_of(self, user_id: str, role: str, fhir_user: str | None) -> frozenset[str] | None:
        now = time.monotonic()
        hit = self._patients.get(user_id)
        if (
            hit is not None
            and now - hit.at < _PATIENTS_TTL_S
            and (hit.role, hit.fhir_user) == (role, fhir_user)
        ):
            return hit.patients
        with self.db.connect() as conn:
            patients = _load_patients(conn, user_id, role, fhir_user)
        with self._lock:
            if len(self._patients) > 10_000:
                self._patients.clear()
            self._patients[user_id] = _Patients(role, fhir_user, patients, now)
        return patients


def _load_patients(
    conn: sa.Connection, user_id: str, role: str, fhir_user: str | None
) -> frozenset[str] | None:
    """The patients a user may act for through ``user/`` scopes; None (everyone) for
    admins."""
    if role in ADMIN_ROLES:
        return None
    links = UserPatientRow.__table__.c
    linked = set(
        conn.execute(sa.select(links.patient_id).where(links.user_id == user_id)).scalars()
    )
    if role == "patient" and fhir_user and fhir_user.startswith("Patient/"):
        linked.add(fhir_user.split("/", 1)[1])
    if role == "practitioner" and fhir_user:
        linked |= _appointment_patients(conn, fhir_user)
    return frozenset(linked)


def _appointment_patients(conn: sa.Connection, practitioner: str) -> set[str]:
    """Patients who have an Appointment with ``Practitioner/<id>``: a care relationship."""
    kind, _, pid = practitioner.partition("/")
    if kind != "Practitioner" or not pid:
        return set()
    ref = INDEX_TABLES["reference"]
    actor, patient = ref.alias(), ref.alias()
    stmt = (
        sa.select(patient.c.target_id)
        .join(actor, actor.c.rid == patient.c.rid)
        .where(
            actor.c.resource_type == "Appointment",
            actor.c.param == "practitioner",
            actor.c.target_type == "Practitioner",
            actor.c.target_id == pid,
            patient.c.param == "patient",
            patient.c.target_type == "Patient",
        )
        .distinct()
    )
    return set(conn.execute(stmt).scalars())
