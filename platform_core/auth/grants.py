"""What a verified access token lets its caller reach: the token's scopes plus, for a user's
token, the user's role and the patients the user may act for.

Whether a user's token may be used at all, and for which patients, is read on every
verification in one statement and one round trip: the account's role, status, token
generation and FHIR resource from ``auth_user``, and the patients it is linked to from
``auth_user_patient`` (a ``UNION ALL`` of the two), on the autocommit read pool, through the
driver's cursor (it is on every user request; SQLAlchemy's statement layer would add about
half again to it). So a suspension or a password change (both bump ``token_generation``; a
suspension also sets ``status``), a new link and a removed one reach the account's tokens on
the very next request, in every process and on every node sharing the database, with
nothing to invalidate. Only a practitioner's patients by appointment (a join over the
reference index) are kept per process for up to a second (:data:`_APPOINTMENTS_TTL_S`).
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
_APPOINTMENTS_TTL_S = 1.0
"""How long a process trusts the patients it found a practitioner has appointments with: a
new appointment reaches the practitioner's tokens everywhere within this time (at once in
the process that calls :meth:`GrantResolver.forget`)."""
_ACCOUNT_SQL = (
    "SELECT 0, role, status, token_generation, fhir_user FROM "
    + UserRow.__tablename__
    + " WHERE id = {placeholder} UNION ALL SELECT 1, patient_id, NULL, NULL, NULL FROM "
    + UserPatientRow.__tablename__
    + " WHERE user_id = {placeholder}"
)
"""The account (a row starting with 0) and each patient it is linked to (rows with 1)."""


@dataclass(frozen=True)
class _Account:
    role: str
    status: str
    generation: int
    fhir_user: str | None
    linked: frozenset[str]


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
class _Appointments:
    """The patients a practitioner has appointments with, and when they were found."""

    practitioner: str
    patients: frozenset[str]
    at: float
    """``time.monotonic()`` when computed."""


class GrantResolver:
    """Turns verified access tokens into :class:`Grant` objects.

    ``db`` is the engine for reads (on PostgreSQL the autocommit pool: a lookup is one round
    trip with no BEGIN or ROLLBACK)."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._appointments: dict[str, _Appointments] = {}
        self._lock = threading.Lock()
        placeholder = "?" if db.dialect.paramstyle == "qmark" else "%s"
        self._account_sql = _ACCOUNT_SQL.format(placeholder=placeholder)
        # A server-side prepared statement on PostgreSQL: planning the UNION took about
        # as long as the round trip (250 -> 137 µs per lookup measured here), and for two
        # key lookups the generic plan is the right one. (The engine leaves preparing off
        # for searches, whose generic plans can be far worse.)
        self._execute_options = {"prepare": True} if db.dialect.name == "postgresql" else {}

    def grant_for(self, token: AccessToken) -> Grant:
        """The grant of ``token``; raises :class:`RevokedGrant` when its user may no longer
        use it (as the database says now, not a cached answer)."""
        scopes = ScopeSet.parse(token.scope)
        if token.user_id is None:
            return Grant(scopes, token.client_id, patient=token.patient, user_patients=None)
        account = self._account(token.user_id)
        if account is None or account.status != "active":
            raise RevokedGrant("the token's user is not active")
        if token.generation is not None and token.generation != account.generation:
            raise RevokedGrant("the token was revoked by a password change")
        return Grant(
            scopes,
            token.client_id,
            patient=token.patient,
            user_id=token.user_id,
            role=account.role,
            fhir_user=account.fhir_user,
            user_patients=self._patients_of(token.user_id, account),
        )

    def _account(self, user_id: str) -> _Account | None:
        """The account and its links as committed now, or None."""
        raw = self.db.raw_connection()
        try:
            cursor = raw.cursor()
            try:
                cursor.execute(self._account_sql, (user_id, user_id), **self._execute_options)
                rows = cursor.fetchall()
            finally:
                cursor.close()
        finally:
            raw.close()  # back to the pool
        account = next((row for row in rows if row[0] == 0), None)
        if account is None:
            return None
        linked = frozenset(row[1] for row in rows if row[0] == 1)
        return _Account(account[1], account[2], int(account[3]), account[4], linked)

    def forget(self, user_id: str) -> None:
        """Drop the appointments this process found for a practitioner, so that their next
        request sees a change at once here."""
        with self._lock:
            self._appointments.pop(user_id, None)

    def _patients_of(self, user_id: str, account: _Account) -> frozenset[str] | None:
        """The patients a user may act for through ``user/`` scopes; None (everyone) for
        admins."""
        if account.role in ADMIN_ROLES:
            return None
        fhir_user = account.fhir_user
        if account.role == "patient" and fhir_user and fhir_user.startswith("Patient/"):
            return account.linked | {fhir_user.split("/", 1)[1]}
        if account.role == "practitioner" and fhir_user:
            return account.linked | self._appointment_patients(user_id, fhir_user)
        return account.linked

    def _appointment_patients(self, user_id: str, fhir_user: str) -> frozenset[str]:
        now = time.monotonic()
        hit = self._appointments.get(user_id)
        if hit is not None and now - hit.at < _APPOINTMENTS_TTL_S and hit.practitioner == fhir_user:
            return hit.patients
        with self.db.connect() as conn:
            patients = frozenset(_appointment_patients(conn, fhir_user))
        with self._lock:
            if len(self._appointments) > 10_000:
                self._appointments.clear()
            self._appointments[user_id] = _Appointments(fhir_user, patients, now)
        return patients


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
