"""The ratings the practitioner directory shows: the ``practitioner_ratings`` hook, which
the ``practitioners`` plugin declares and this plugin implements (docs/reviews.md).

The implementation is called directly (with the core, outside any Flask app), through a
fresh plugin manager holding the hook's spec as the directory declares it, and through the
app's own manager when the ``practitioners`` plugin has declared it there.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import pluggy
import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core import PROJECT_NAME, hookspec, hookspecs
from platform_core.config import Settings
from platform_core.plugin_host import PluginHost
from plugins.reviews import plugin
from tests.care.conftest import People, Person
from tests.care.test_reviews import appointment, review
from tests.conftest import FhirClient


@pytest.fixture
def rated(people: People, fhir: FhirClient) -> dict[str, Any]:
    """Two practitioners: one with three visible reviews (5, 4, 4) and a hidden one (1),
    one with a single review (3); and a third without any."""
    busy, quiet, new = (people.practitioner(family=f) for f in ("Bello", "Musa", "Eze"))
    admin = people.admin()

    def patient_reviews(doctor: Person, stars: int) -> dict[str, Any]:
        patient = people.patient()
        return review(patient, appointment(fhir, patient.id, doctor), stars)

    for stars in (5, 4, 4):
        patient_reviews(busy, stars)
    hidden = patient_reviews(busy, 1)
    assert admin.api.post(f"reviews/{hidden['id']}/hide", {"reason": "spam"}).status_code == 200
    patient_reviews(quiet, 3)
    return {"busy": busy.id, "quiet": quiet.id, "new": new.id}


@pytest.fixture
def statements(db: sa.Engine) -> Iterator[list[str]]:
    """SQL statements run on the app's engine while the test runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db, "before_cursor_execute", record)
    yield seen
    sa.event.remove(db, "before_cursor_execute", record)


EXPECTED = {"average": 4.33, "count": 3}


def test_ratings_of_practitioners_with_visible_reviews(
    app: Flask, rated: dict[str, Any], statements: list[str]
) -> None:
    ids = [rated["busy"], rated["quiet"], rated["new"], "unknown", rated["busy"]]
    statements.clear()

    found = plugin.practitioner_ratings(core=app.extensions["fireside"], practitioner_ids=ids)

    assert found == {rated["busy"]: EXPECTED, rated["quiet"]: {"average": 3.0, "count": 1}}
    assert isinstance(found[rated["busy"]]["count"], int)
    reads = [s for s in statements if "reviews_review" in s]
    assert len(reads) == 1 and "GROUP BY" in reads[0].upper()


def test_no_ids_need_no_query(app: Flask, statements: list[str]) -> None:
    assert plugin.practitioner_ratings(core=app.extensions["fireside"], practitioner_ids=[]) == {}
    assert statements == []


def test_hook_practitioner_ratings_through_a_manager_declaring_it(
    app: Flask, rated: dict[str, Any]
) -> None:
    """The spec as the directory declares it: not firstresult, results merged."""

    @hookspec
    def practitioner_ratings(
        core: Any, practitioner_ids: list[str]
    ) -> dict[str, dict[str, float | int]]:
        """Ratings by practitioner id."""

    specs = types.ModuleType("directory_specs")
    specs.practitioner_ratings = practitioner_ratings  # type: ignore[attr-defined]
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.add_hookspecs(specs)
    pm.register(plugin, name="reviews")
    pm.check_pending()

    results = pm.hook.practitioner_ratings(
        core=app.extensions["fireside"], practitioner_ids=[rated["busy"], rated["new"]]
    )

    merged: dict[str, Any] = {}
    for result in results:
        merged.update(result)
    assert merged == {rated["busy"]: EXPECTED}


def test_hook_practitioner_ratings_through_the_apps_plugins(
    app: Flask, rated: dict[str, Any]
) -> None:
    hook = getattr(app.extensions["fireside"].plugins.hook, "practitioner_ratings", None)
    if hook is None or hook.spec is None:
        pytest.skip("the practitioners plugin does not declare practitioner_ratings (yet)")

    results = hook(
        core=app.extensions["fireside"], practitioner_ids=[rated["busy"], rated["quiet"]]
    )

    assert {rated["busy"]: EXPECTED} in [
        {k: v for k, v in r.items() if k == rated["busy"]} for r in results
    ]


def test_the_plugin_loads_with_the_practitioners_plugin_switched_off() -> None:
    host = PluginHost(Settings(plugins_disabled=("practitioners",)))

    assert "reviews" in host.names()
    assert "practitioners" not in host.names()
    assert "reviews" not in host.failures
    # Alone with the core's hooks, nothing declaring practitioner_ratings: optionalhook
    # keeps pluggy from refusing the plugin.
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="reviews")
    pm.check_pending()


def test_hook_practitioner_ratings_outside_any_app_context(
    app: Flask, rated: dict[str, Any]
) -> None:
    """A job or a command (no Flask app, no request) asks with a core of its own."""
    from flask import has_app_context

    from platform_core.app import build_core

    core = build_core(app.extensions["fireside"].settings)
    try:
        assert not has_app_context()
        found = plugin.practitioner_ratings(core=core, practitioner_ids=[rated["busy"]])
        assert found == {rated["busy"]: EXPECTED}
        declared = getattr(core.plugins.hook, "practitioner_ratings", None)
        if declared is not None:  # the practitioners plugin is active: the merged answer
            assert {rated["busy"]: EXPECTED} in declared(
                core=core, practitioner_ids=[rated["busy"]]
            )
    finally:
        core.dispose()
