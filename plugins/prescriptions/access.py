"""Who sees which prescriptions through the API.

Patients and guardians see the prescriptions of the patients they act for (themselves, their
children); a practitioner sees the ones they issued and, for a patient they care for, all of
that patient's; administrators and ``system`` backend services see all. A token with a
launch patient is confined to that patient. Anything else reads exactly like something
that does not exist (404), so nothing leaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from platform_core.auth.grants import ADMIN_ROLES
from platform_core.fhir.context import RequestContext
from platform_core.identity.care import has_care_relationship
from platform_core.web.api import grant_of
from plugins.prescriptions.resources import reference_id


@dataclass
class Viewer:
    """What one caller may see (see the module docstring)."""

    everything: bool = False
    practitioner: str | None = None
    """A practitioner's own Practitioner id."""
    patients: frozenset[str] | None = frozenset()
    """Patients acted for as patient or guardian; None: any patient."""
    confined_to: str | None = None
    """The token's launch patient, which confines every other right."""
    _cares: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, ctx: RequestContext) -> Viewer:
        """The viewer behind a request context."""
        if ctx.internal:
            return cls(everything=True)
        grant = grant_of(ctx)
        if grant is None:
            return cls()
        confined = grant.patient
        if grant.user_id is None:  # a backend service
            return cls(everything="system" in grant.scopes.contexts(), confined_to=confined)
        if grant.role in ADMIN_ROLES:
            return cls(everything=True, confined_to=confined)
        if grant.role == "practitioner":
            kind, _, pid = (grant.fhir_user or "").partition("/")
            return cls(practitioner=pid if kind == "Practitioner" and pid else None)
        return cls(patients=grant.user_patients, confined_to=confined)

    def cares_for(self, conn: Connection, patient_id: str) -> bool:
        """Whether this viewer is a practitioner caring for the patient (remembered)."""
        if self.practitioner is None:
            return False
        if patient_id not in self._cares:
            self._cares[patient_id] = has_care_relationship(conn, self.practitioner, patient_id)
        return self._cares[patient_id]

    def sees_patient(self, conn: Connection, patient_id: str) -> bool:
        """Whether the viewer may list all of the patient's prescriptions."""
        if self.confined_to is not None and patient_id != self.confined_to:
            return False
        if self.everything:
            return True
        if self.practitioner is not None:
            return self.cares_for(conn, patient_id)
        return self.patients is None or patient_id in self.patients

    def sees(self, conn: Connection, resource: dict[str, Any]) -> bool:
        """Whether the viewer may see one MedicationRequest."""
        patient_id = reference_id(resource.get("subject"), "Patient")
        if self.confined_to is not None and patient_id != self.confined_to:
            return False
        if self.everything:
            return True
        if self.practitioner is not None:
            requester = (resource.get("requester") or {}).get("reference")
            if requester == f"Practitioner/{self.practitioner}":
                return True
            return patient_id is not None and self.cares_for(conn, patient_id)
        return patient_id is not None and (self.patients is None or patient_id in self.patients)
