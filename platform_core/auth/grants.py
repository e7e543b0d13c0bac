"""What a verified access token lets its caller reach: the token's scopes plus, for a user's
token, the user's role and the patients the user may act for."""

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
_TTL_S = 1.0
"""How long a process trusts what it read about a user (role, links, token generation):
a password change or a new link takes effect everywhere within this time."""


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
class _UserFacts:
    role: str
    status: str
    generation: int
    fhir_user: str | None
    patients: frozenset[str] | None


class GrantResolver:
    """Turns verified access tokens into :class:`Grant` objects, caching user facts briefly."""

    def __init__(self, db: Engine) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, _UserFacts | None]] = {}
        self._lock = threading.Lock()

    def grant_for(self, token: AccessToken) -> Grant:
        """The grant of ``token``; raises :class:`RevokedGrant` when its user may no longer
        use it."""
        scopes = ScopeSet.parse(token.scope)
        if token.user_id is None:
            return Grant(scopes, token.client_id, patient=token.patient, user_patients=None)
        facts = self._facts(token.user_id)
        if facts is None or facts.status != "active":
            raise RevokedGrant("the token's user is not active")
        if token.generation is not None and token.generation != facts.generation:
            raise RevokedGrant("the token was revoked by a password change")
        return Grant(
            scopes,
            token.client_id,
            patient=token.patient,
            user_id=token.user_id,
            role=facts.role,
            fhir_user=facts.fhir_user,
            user_patients=facts.patients,
        )

    def forget(self, user_id: str) -> None:
        """Drop what this process knows about a user (after changing them)."""
        with self._lock:
            self._cache.pop(user_id, None)

    def _facts(self, user_id: str) -> _UserFacts | None:
        now = time.monotonic()
        hit = self._cache.get(user_id)
        if hit is not None and now - hit[0] < _TTL_S:
            return hit[1]
        facts = self._load(user_id)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[user_id] = (now, facts)
        return facts

    def _load(self, user_id: str) -> _UserFacts | None:
        u = UserRow.__table__.c
        with self.db.connect() as conn:
            row = conn.execute(
                sa.select(u.role, u.status, u.token_generation, u.fhir_user).where(u.id == user_id)
            ).first()
            if row is None:
                return None
            patients: frozenset[str] | None = None
            if row.role not in ADMIN_ROLES:
                links = UserPatientRow.__table__.c
                linked = set(
                    conn.execute(
                        sa.select(links.patient_id).where(links.user_id == user_id)
                    ).scalars()
                )
                if row.role == "patient" and row.fhir_user and row.fhir_user.startswith("Patient/"):
                    linked.add(row.fhir_user.split("/", 1)[1])
                if row.role == "practitioner" and row.fhir_user:
                    linked |= _appointment_patients(conn, row.fhir_user)
                patients = frozenset(linked)
        return _UserFacts(row.role, row.status, row.token_generation, row.fhir_user, patients)


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
