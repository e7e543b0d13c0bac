"""SMART scope syntax, coverage and plain words (the authorization server's side only)."""

from __future__ import annotations

import pytest

from platform_core.oauth import smart_scopes
from platform_core.oauth.smart_scopes import ScopeSyntaxError, check_syntax, covered, describe


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.read",
        "patient/Observation.write",
        "user/*.*",
        "system/*.read",
        "patient/Observation.rs",
        "patient/Observation.cruds",
        "user/Patient.c",
        "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
    ],
)
def test_well_formed_scopes(scope: str) -> None:
    check_syntax([scope])


@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.sr",  # v2 letters out of order
        "patient/Observation.",
        "patient/Observation.rr",
        "patient/observation.read",
        "practitioner/Observation.read",
        "patient/Observation.read?code=1",  # v1 has no query
        "patient/Observation",
        "launch/location",
        "email",
        "",
    ],
)
def test_malformed_scopes(scope: str) -> None:
    with pytest.raises(ScopeSyntaxError):
        check_syntax([scope])


@pytest.mark.parametrize(
    ("scope", "allowed", "expected"),
    [
        ("patient/Observation.rs", ["patient/*.rs"], True),
        ("patient/Observation.read", ["patient/*.rs"], True),
        ("patient/Observation.rs", ["patient/*.read"], True),
        ("patient/Observation.cruds", ["patient/*.rs"], False),
        ("patient/Observation.rs", ["user/*.cruds"], False),
        ("patient/Observation.rs?code=1", ["patient/Observation.rs"], True),
        ("patient/Observation.rs", ["patient/Observation.rs?code=1"], False),
        ("patient/Observation.rs?code=2", ["patient/Observation.rs?code=1"], False),
        ("patient/Condition.r", ["patient/Observation.rs"], False),
        ("openid", ["openid"], True),
        ("offline_access", ["online_access"], False),
        ("system/*.rs", ["system/*.*"], True),
    ],
)
def test_coverage(scope: str, allowed: list[str], expected: bool) -> None:
    assert covered(scope, allowed) is expected


def test_narrow_keeps_request_order_and_drops_the_rest() -> None:
    assert smart_scopes.narrow(
        ["user/*.rs", "openid", "patient/Observation.rs"], ["openid", "patient/*.read"]
    ) == ["openid", "patient/Observation.rs"]


def test_split_drops_duplicates() -> None:
    assert smart_scopes.split(" openid  openid patient/*.rs ") == ["openid", "patient/*.rs"]


@pytest.mark.parametrize(
    ("scope", "words"),
    [
        ("patient/Observation.rs", "Read and search observation records of the selected patient"),
        ("user/MedicationRequest.cud", "Create, update and delete medication request records"),
        ("patient/*.read", "Read and search all health records of the selected patient"),
        ("offline_access", "Keep access after you sign out, until you revoke it"),
    ],
)
def test_plain_words(scope: str, words: str) -> None:
    assert describe(scope).startswith(words)
