"""Two patients with their own data, and helpers to make users and tokens."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from platform_core.auth.schema import UserPatientRow, UserRow
from platform_core.fhir.instants import now_utc


@pytest.fixture
def world(fhir) -> dict[str, Any]:
    """Patients A and B, each with a lab and a vital-signs Observation and an Encounter; a
    Practitioner; B's Observation refers to A's Encounter nowhere (no cross links)."""
    ids: dict[str, Any] = {}
    ids["pract"] = fhir.create({"resourceType": "Practitioner", "name": [{"family": "Who"}]})["id"]
    for who in ("a", "b"):
        pid = fhir.create({"resourceType": "Patient", "name": [{"family": f"Fam{who.upper()}"}]})[
            "id"
        ]
        ids[who] = pid
        for category in ("laboratory", "vital-signs"):
            obs = fhir.create(
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": category,
                                }
                            ]
                        }
                    ],
                    "code": {"text": category},
                    "subject": {"reference": f"Patient/{pid}"},
                    "performer": [{"reference": f"Practitioner/{ids['pract']}"}],
                }
            )
            ids[f"{who}_{category}"] = obs["id"]
    return ids


def make_user(
    db: sa.Engine, role: str, fhir_user: str | None = None, patients: list[tuple[str, str]] = ()
) -> str:
    """A user row (and links to patients) written straight to the tables."""
    user_id = str(uuid.uuid4())
    now = now_utc()
    with db.begin() as conn:
        conn.execute(
            sa.insert(UserRow.__table__).values(
                id=user_id,
                email=f"{user_id}@example.org",
                password_hash=None,
                role=role,
                fhir_user=fhir_user,
                status="active",
                token_generation=0,
                failed_logins=0,
                created_at=now,
                updated_at=now,
            )
        )
        for patient_id, relationship in patients:
            conn.execute(
                sa.insert(UserPatientRow.__table__).values(
                    user_id=user_id,
                    patient_id=patient_id,
                    relationship=relationship,
                    created_at=now,
                )
            )
    return user_id
