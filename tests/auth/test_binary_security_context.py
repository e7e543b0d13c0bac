"""``Binary.securityContext``: a Binary that names a resource as its security context is
readable only by those who may read that resource, through every way of reading it (read,
vread, search and its total, includes, type and instance history, history of all types)
and the reach checks of writes.

Patient A's token meets Binaries whose securityContext is A's own resources, B's
resources, nothing, a reference that names nothing here, and an absolute reference to this
server.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from platform_core.fhir.security_context import split_reference
from tests.auth.conftest import make_user
from tests.conftest import BASE, FhirClient

DATA = base64.b64encode(b"scan").decode()


def binary(context: dict[str, Any] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Binary", "contentType": "image/png", "data": DATA}
    if context is not None:
        resource["securityContext"] = context
    return resource


@pytest.fixture
def binaries(fhir: FhirClient, world: dict[str, Any]) -> dict[str, str]:
    """Binary ids by what their securityContext is."""
    a, b = world["a"], world["b"]
    contexts: dict[str, dict[str, Any] | None] = {
        "a_patient": {"reference": f"Patient/{a}"},
        "a_observation": {"reference": f"Observation/{world['a_laboratory']}"},
        "a_absolute": {"reference": f"{BASE}/fhir/Patient/{a}"},
        "a_versioned": {"reference": f"Observation/{world['a_laboratory']}/_history/1"},
        "practitioner": {"reference": f"Practitioner/{world['pract']}"},
        "none": None,
        "b_patient": {"reference": f"Patient/{b}"},
        "b_observation": {"reference": f"Observation/{world['b_laboratory']}"},
        "unknown": {"reference": "Observation/no-such-observation"},
        "identifier_only": {"identifier": {"system": "urn:x", "value": a}},
        "other_server": {"reference": f"https://elsewhere.example/fhir/Patient/{a}"},
    }
    return {name: fhir.create(binary(context))["id"] for name, context in contexts.items()}


READABLE_BY_A = {"a_patient", "a_observation", "a_absolute", "a_versioned", "practitioner", "none"}


def names(binaries: dict[str, str], found: set[str]) -> set[str]:
    by_id = {v: k for k, v in binaries.items()}
    return {by_id[i] for i in found if i in by_id}


def entry_ids(resp: Any) -> set[str]:
    assert resp.status_code == 200, resp.get_json()
    return {e["resource"]["id"] for e in resp.get_json().get("entry", []) if "resource" in e}


@pytest.fixture(params=["patient", "user"])
def patient_a(request: pytest.FixtureRequest, db: Any, fhir_as: Any, world: dict[str, Any]) -> Any:
    """Patient A through a SMART launch (``patient/``) or as a signed-in user (``user/``)."""
    if request.param == "patient":
        return fhir_as("patient/*.rs", patient=world["a"])
    user = make_user(db, "patient", f"Patient/{world['a']}", patients=[(world["a"], "self")])
    return fhir_as("user/*.rs", user_id=user, generation=0)


def test_read_and_vread_follow_the_security_context(patient_a, binaries):
    for name, binary_id in binaries.items():
        expected = 200 if name in READABLE_BY_A else 404
        assert patient_a.get(f"Binary/{binary_id}").status_code == expected, name
        assert patient_a.get(f"Binary/{binary_id}/_history/1").status_code == expected, name


def test_search_and_its_total_follow_the_security_context(patient_a, binaries):
    resp = patient_a.get("Binary?_count=50&_total=accurate")
    assert names(binaries, entry_ids(resp)) == READABLE_BY_A
    assert resp.get_json()["total"] == len(READABLE_BY_A)
    count = patient_a.get("Binary?_summary=count").get_json()
    assert count["total"] == len(READABLE_BY_A)
    some = ",".join(binaries[n] for n in ("a_patient", "b_patient", "b_observation"))
    assert names(binaries, entry_ids(patient_a.get(f"Binary?_id={some}"))) == {"a_patient"}


def test_history_follows_the_security_context(patient_a, fhir, binaries, world):
    # A second version of one of B's Binaries: still none of A's business.
    b_binary = binaries["b_patient"]
    fhir.put(
        f"Binary/{b_binary}", {**binary({"reference": f"Patient/{world['b']}"}), "id": b_binary}
    )
    assert patient_a.get(f"Binary/{b_binary}/_history").status_code == 404
    assert patient_a.get(f"Binary/{b_binary}/_history/2").status_code == 404
    mine = binaries["a_patient"]
    assert len(entry_ids(patient_a.get(f"Binary/{mine}/_history"))) == 1
    type_history = entry_ids(patient_a.get("Binary/_history?_count=100"))
    assert names(binaries, type_history) == READABLE_BY_A
    everything = entry_ids(patient_a.get("_history?_count=500"))
    assert names(binaries, everything) == READABLE_BY_A


def test_includes_follow_the_security_context(patient_a, fhir, binaries, world):
    """A List in A's record names Binaries of A and of B; including them brings A's only."""
    items = ("a_patient", "b_patient", "b_observation", "none")
    listing = fhir.create(
        {
            "resourceType": "List",
            "status": "current",
            "mode": "working",
            "subject": {"reference": f"Patient/{world['a']}"},
            "entry": [{"item": {"reference": f"Binary/{binaries[n]}"}} for n in items],
        }
    )
    found = entry_ids(patient_a.get("List?_include=List:item"))
    assert listing["id"] in found
    assert names(binaries, found) == {"a_patient", "none"}


def test_the_target_going_away_hides_the_binary(patient_a, fhir, binaries, world):
    assert fhir.delete(f"Observation/{world['a_laboratory']}").status_code in (200, 204)
    assert patient_a.get(f"Binary/{binaries['a_observation']}").status_code == 404
    assert patient_a.get(f"Binary/{binaries['a_patient']}").status_code == 200
    found = names(binaries, entry_ids(patient_a.get("Binary?_count=50")))
    assert found == READABLE_BY_A - {"a_observation", "a_versioned"}


def test_callers_who_read_everything_see_every_binary(db, fhir, fhir_as, binaries):
    admin = fhir_as("user/*.rs", user_id=make_user(db, "admin"), generation=0)
    for reader in (fhir, admin):
        assert names(binaries, entry_ids(reader.get("Binary?_count=50"))) == set(binaries)
        for binary_id in binaries.values():
            assert reader.get(f"Binary/{binary_id}").status_code == 200


def test_a_binary_scope_alone_does_not_open_the_context(fhir_as, binaries, world):
    """``patient/Binary.rs`` grants Binaries but no read of the resources they stand for."""
    only_binaries = fhir_as("patient/Binary.rs", patient=world["a"])
    found = names(binaries, entry_ids(only_binaries.get("Binary?_count=50")))
    assert found == {"none"}
    assert only_binaries.get(f"Binary/{binaries['a_patient']}").status_code == 404


def test_a_write_may_not_name_a_context_the_writer_cannot_read(db, fhir_as, world, counts):
    """A practitioner (staff may write Binaries) caring for A may file a Binary under A's
    record, not under B's."""
    doctor = make_user(
        db, "practitioner", f"Practitioner/{world['pract']}", patients=[(world["a"], "care")]
    )
    client = fhir_as("user/*.cruds", user_id=doctor, generation=0)
    mine = client.post("Binary", binary({"reference": f"Patient/{world['a']}"}))
    assert mine.status_code == 201, mine.get_json()
    before = counts()
    refused = client.post("Binary", binary({"reference": f"Patient/{world['b']}"}))
    assert refused.status_code == 403
    assert counts() == before
    # Nor move one of its own under B's record.
    moved = binary({"reference": f"Patient/{world['b']}"}) | {"id": mine.get_json()["id"]}
    assert client.put(f"Binary/{moved['id']}", moved).status_code == 403
    assert counts() == before


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/1", ("Patient", "1")),
        ("Observation/o.1/_history/3", ("Observation", "o.1")),
        (f"{BASE}/fhir/Patient/7", ("Patient", "7")),
        ("https://elsewhere.example/fhir/Patient/7", None),
        ("#contained", None),
        ("Patient", None),
        ("/Patient/1", None),
        ("Patient/", None),
    ],
)
def test_references_are_read_like_the_sql_reads_them(reference, expected):
    assert split_reference(reference, f"{BASE}/fhir") == expected
