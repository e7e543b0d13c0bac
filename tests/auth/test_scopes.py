"""SMART scope grammar (SMART App Launch 2.2, scopes-and-launch-context)."""

from __future__ import annotations

import pytest

from platform_core.auth.scopes import ScopeSet, is_valid_scope, parse_scope


@pytest.mark.parametrize(
    ("text", "context", "rtype", "perms"),
    [
        ("patient/Observation.read", "patient", "Observation", "rs"),
        ("user/*.write", "user", "*", "cud"),
        ("system/*.*", "system", "*", "cruds"),
        ("patient/Observation.rs", "patient", "Observation", "rs"),
        ("user/Appointment.cruds", "user", "Appointment", "cruds"),
        ("patient/Patient.r", "patient", "Patient", "r"),
        ("system/Encounter.s", "system", "Encounter", "s"),
    ],
)
def test_v1_and_v2_scopes_parse(text, context, rtype, perms):
    scope = parse_scope(text)
    assert scope is not None
    assert (scope.context, scope.resource_type, scope.permissions) == (
        context,
        rtype,
        frozenset(perms),
    )


def test_granular_scope_carries_its_query():
    scope = parse_scope("patient/Observation.rs?category=http://x|laboratory&status=final")
    assert scope is not None
    assert scope.query == (("category", "http://x|laboratory"), ("status", "final"))


@pytest.mark.parametrize(
    "text",
    [
        "patient/Observation.sr",  # v2 letters must be in c r u d s order
        "patient/Observation.rr",
        "patient/Observation.",
        "patient/observation.rs",
        "doctor/Observation.rs",
        "patient/Observation.read?category=x",  # queries are v2 only
        "patient/Observation",
    ],
)
def test_malformed_scopes_are_not_clinical_scopes(text):
    assert parse_scope(text) is None
    assert not is_valid_scope(text)


def test_launch_and_identity_scopes_are_valid_but_grant_no_data():
    scopes = ScopeSet.parse("openid fhirUser launch/patient offline_access patient/Patient.rs")
    assert {s.text for s in scopes.resource_scopes} == {"patient/Patient.rs"}
    assert scopes.other == {"openid", "fhirUser", "launch/patient", "offline_access"}
    assert all(is_valid_scope(s) for s in ["openid", "fhirUser", "launch", "online_access"])


def test_granting_matches_type_and_permission():
    scopes = ScopeSet.parse("patient/Observation.rs user/*.c")
    assert [s.text for s in scopes.granting("Observation", "s")] == ["patient/Observation.rs"]
    assert [s.text for s in scopes.granting("Condition", "c")] == ["user/*.c"]
    assert scopes.granting("Condition", "r") == []
