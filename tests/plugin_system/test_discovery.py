"""Finding plugins: entry points of the ``fireside`` group, the core's default plugins,
switching plugins off by name, plugins that fail to load, hook tracing, plugin commands."""

from __future__ import annotations

import contextlib
import logging

import manage
from platform_core.config import load_settings
from platform_core.plugin_host import PluginHost
from tests.plugin_system import sample_plugins


def test_entry_point_plugins_are_loaded_beside_the_core_defaults(entry_points) -> None:
    entry_points(greeter="tests.plugin_system.sample_plugins:greeter")
    host = PluginHost(load_settings({}, environ={}))
    assert "greeter" in host.names()
    assert "core.text_search" in host.names()
    assert host.scopes() == {"greeter/greetings.read": "Read your greetings"}
    assert host.failures == {}


def test_a_plugin_is_disabled_by_name(entry_points) -> None:
    entry_points(greeter="tests.plugin_system.sample_plugins:greeter")
    host = PluginHost(load_settings({"plugins_disabled": ["greeter"]}, environ={}))
    assert "greeter" not in host.names()
    env = {"FIRESIDE_PLUGINS_DISABLED": "greeter, core.text_search"}
    host = PluginHost(load_settings({}, environ=env))
    assert "greeter" not in host.names()
    assert "core.text_search" not in host.names()


def test_a_plugin_that_fails_to_import_is_logged_and_shown_in_readyz(
    entry_points, make_app, caplog
) -> None:
    entry_points(
        greeter="tests.plugin_system.sample_plugins:greeter",
        broken="tests.plugin_system.broken_plugin",
    )
    application = make_app()
    assert "broken failed to load" in caplog.text
    core = application.extensions["fireside"]
    assert "greeter" in core.plugins.names()
    assert "ModuleNotFoundError" in core.plugins.failures["broken"]
    resp = application.test_client().get("/readyz")
    assert resp.status_code == 503
    checks = resp.get_json()["checks"]
    assert checks["plugin:broken"].startswith("failed to load: ModuleNotFoundError")
    assert checks["greeter"] == "ok"
    assert checks["database"] == "ok"
    # The app serves everything else.
    assert application.test_client().get("/healthz").status_code == 200


def test_hook_calls_are_traced_when_asked(entry_points, caplog) -> None:
    entry_points(greeter="tests.plugin_system.sample_plugins:greeter")
    with caplog.at_level(logging.INFO, logger="fireside.hooks"):
        host = PluginHost(load_settings({"plugins_trace": True}, environ={}))
        host.scopes()
    assert "register_scopes" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fireside.hooks"):
        PluginHost(load_settings({}, environ={})).scopes()
    assert "register_scopes" not in caplog.text


def test_hook_register_commands(entry_points, capsys) -> None:
    entry_points(greeter="tests.plugin_system.sample_plugins:greeter")
    sample_plugins.CALLS.clear()
    assert manage.main(["hello", "world"]) == 0
    assert sample_plugins.CALLS == ["hello world"]
    with contextlib.suppress(SystemExit):
        manage.main(["--help"])
    assert "say hello" in capsys.readouterr().out


def test_plugin_settings_come_from_the_environment_as_text(tmp_path):
    from platform_core.config import load_settings

    settings = load_settings(
        {"family_max_children": 3},
        environ={
            "FIRESIDE_SCHEDULING_HORIZON_DAYS": "14",
            "FIRESIDE_FAMILY_MAX_CHILDREN": "20",
            "FIRESIDE_BASE_URL": "https://example.org",
            "OTHER_VARIABLE": "x",
        },
        config_file=tmp_path / "none.toml",
    )
    assert settings.extra == {"scheduling_horizon_days": "14", "family_max_children": 3}
    assert settings.base_url == "https://example.org"
