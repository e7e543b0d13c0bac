"""Index extraction's shortcuts give exactly the rows of the plain walk.

Writes skip a parameter whose paths start at elements the resource does not have, and one
resource's composites share the values of their common components. Both are checked here
against the unshortened computation over the benchmark's generated clinical data (every
resource type a patient bundle holds) and a server-built AuditEvent.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench import synthetic
from platform_core.audit.events import audit_event
from platform_core.audit.records import AuditRecord
from platform_core.config import Settings
from platform_core.fhir.search.composite import CompiledComposite
from platform_core.fhir.search.extract import CompiledPaths, index_rows
from platform_core.fhir.search.parse import parse_search
from platform_core.fhir.search.registry import indexed_parameters, is_single_valued, parameters_for
from platform_core.fhir.search.sql import single_valued_groups

BASE = "http://fireside.test/fhir"


def _resources() -> list[dict[str, Any]]:
    bundle = next(iter(synthetic.patient_bundles(1, seed=7)))
    out = [entry["resource"] for entry in bundle["entry"]]
    record = AuditRecord(
        kind="rest",
        action="R",
        outcome="0",
        subtype="read",
        who="Practitioner/p1",
        client_id="app",
        remote_addr="10.0.0.1",
        entity="Patient/a1",
        description="HTTP 200",
    )
    return [*out, audit_event(record)]


def _without_heads(params: tuple[tuple[Any, Any], ...]) -> tuple[tuple[Any, Any], ...]:
    return tuple(
        (p, CompiledPaths(c.paths, None) if isinstance(c, CompiledPaths) else c) for p, c in params
    )


def _canonical(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {
        kind: sorted((tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in values), key=repr)
        for kind, values in rows.items()
        if values
    }


def test_heads_name_the_top_level_elements_or_none_when_a_path_may_start_anywhere() -> None:
    patient = {p.code: c for p, c in indexed_parameters("Patient")}
    observation = {p.code: c for p, c in indexed_parameters("Observation")}
    assert patient["family"].heads == frozenset({"name"})
    assert patient["_profile"].heads == frozenset({"meta"})
    # R4: (Observation.value as Quantity) | (Observation.value as SampledData).
    assert observation["value-quantity"].heads == frozenset({"valueQuantity", "valueSampledData"})
    # Observation.effective is a choice without a cast: any suffix may be there.
    assert observation["date"].heads is None


def test_skipping_absent_elements_and_sharing_components_change_no_row() -> None:
    resources = _resources()
    assert {r["resourceType"] for r in resources} >= {
        "Patient",
        "Encounter",
        "Observation",
        "Condition",
        "MedicationRequest",
        "AuditEvent",
    }
    for number, resource in enumerate(resources):
        resource_type = resource["resourceType"]
        params = indexed_parameters(resource_type)
        got = index_rows(resource_type, number, resource, params, BASE)
        plain = index_rows(resource_type, number, resource, _without_heads(params), BASE)
        assert _canonical(got) == _canonical(plain), resource_type
        # Each composite alone, with nothing shared between them.
        alone: list[dict[str, Any]] = []
        for param, compiled in params:
            if isinstance(compiled, CompiledComposite):
                rows = index_rows(resource_type, number, resource, ((param, compiled),), BASE)
                alone.extend(rows.get("composite", []))
        assert _canonical({"composite": got.get("composite", [])}) == _canonical(
            {"composite": alone}
        ), resource_type


@pytest.mark.parametrize("resource_type", ["Patient", "Observation", "AuditEvent"])
def test_a_resource_with_no_elements_but_its_type_gets_no_rows(resource_type: str) -> None:
    rows = index_rows(
        resource_type, 1, {"resourceType": resource_type}, indexed_parameters(resource_type), BASE
    )
    assert not any(rows.values())


@pytest.mark.parametrize(
    ("resource_type", "code", "single"),
    [
        ("Patient", "birthdate", True),
        ("Patient", "gender", True),
        ("Observation", "date", True),  # one choice element, effective[x]
        ("Patient", "name", False),  # a list
        ("Observation", "value-quantity", False),  # two paths
        ("Observation", "code-value-quantity", False),  # a composite
    ],
)
def test_single_valued_parameters_are_judged_from_their_one_path(
    resource_type: str, code: str, single: bool
) -> None:
    """AND-ed ranges on a single-valued parameter become one index lookup (``birthdate=ge
    1980&birthdate=lt1981``: a range scan instead of two half-table lookups)."""
    assert is_single_valued(resource_type, parameters_for(resource_type)[code]) is single


def test_an_and_ed_birthdate_range_is_one_lookup() -> None:
    request = parse_search(
        "Patient", [("birthdate", "ge1980-01-01"), ("birthdate", "lt1981-01-01")], Settings()
    )
    groups, rest = single_valued_groups(request)
    assert [len(g) for g in groups] == [2] and rest == []
