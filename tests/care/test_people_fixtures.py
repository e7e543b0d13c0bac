"""The care fixtures' people reach what their role and links say, through the core's care
helpers."""

from __future__ import annotations

from platform_core.identity.care import (
    guardians_and_self,
    has_care_relationship,
    is_verified_practitioner,
)


def test_people_and_the_core_care_helpers(app, people, db):
    parent = people.guardian()
    doctor = people.practitioner()
    unverified = people.practitioner(verified=False)
    child = parent.children[0]
    assert parent.fhir.get(f"Patient/{child}").status_code == 200
    with db.connect() as conn:
        assert is_verified_practitioner(conn, doctor.id)
        assert not is_verified_practitioner(conn, unverified.id)
        assert not has_care_relationship(conn, doctor.id, child)
        assert guardians_and_self(conn, child) == [parent.user_id]
