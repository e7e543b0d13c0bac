"""How plugins meet jobs: ``register_jobs`` (collected with the core's own jobs), and the
core's ``jobs broker`` readiness check."""

from __future__ import annotations

import pytest

from platform_core import hookimpl
from platform_core.config import load_settings
from platform_core.jobs import JobContext, JobDefinition
from platform_core.jobs.service import Jobs
from platform_core.plugin_host import PluginHost
from tests.jobs.conftest import free_port


def _nothing(ctx: JobContext) -> None:
    return None


class OnePlugin:
    @hookimpl
    def register_jobs(self) -> list[JobDefinition]:
        return [JobDefinition("thirdparty.reminder", _nothing, schedule_s=60.0)]


class ClashingPlugin:
    @hookimpl
    def register_jobs(self) -> list[JobDefinition]:
        return [JobDefinition("thirdparty.reminder", _nothing)]


def test_hook_register_jobs_adds_plugin_jobs_beside_the_core_ones(db):
    settings = load_settings({"database_url": str(db.url)})
    jobs = Jobs.build(settings, db, PluginHost(settings, [OnePlugin()]))
    assert {"thirdparty.reminder", "core.jobs.purge"} <= set(jobs.definitions)
    assert jobs.inline and jobs.readiness() is None


def test_hook_register_jobs_refuses_two_jobs_with_one_name(db):
    settings = load_settings({"database_url": str(db.url)})
    with pytest.raises(ValueError, match="two plugins register a job named"):
        Jobs.build(settings, db, PluginHost(settings, [OnePlugin(), ClashingPlugin()]))


def test_the_core_jobs_plugin_can_be_disabled(db):
    settings = load_settings({"database_url": str(db.url), "plugins_disabled": ("core.jobs",)})
    jobs = Jobs.build(settings, db, PluginHost(settings))
    assert "core.jobs.purge" not in jobs.definitions


def test_readyz_names_a_broker_that_does_not_answer(jobs_app):
    assert jobs_app.test_client().get("/readyz").get_json()["checks"]["jobs broker"] == "ok"
    from platform_core.app import build_core

    url = f"redis://127.0.0.1:{free_port()}/0"
    settings = jobs_app.extensions["fireside"].settings
    core = build_core(
        load_settings({"database_url": settings.database_url, "jobs_broker_url": url})
    )
    try:
        checks = core.plugins.collect("register_readiness_checks", core=core)
        (broker,) = [c for c in checks if c.name == "jobs broker"]
        assert "broker unreachable" in (broker.check() or "")
    finally:
        core.dispose()
