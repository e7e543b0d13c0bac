"""The plugin host: one pluggy manager per app, holding the core's default plugins and the
plugins installed under the ``fireside`` entry-point group.

Start-up order: the hookspecs; the core's default plugins (fallbacks marked ``trylast``);
every entry point not disabled by ``plugins_disabled``; the plugins a caller passes (tests);
then ``add_hookspecs`` so plugins can publish hooks of their own. A plugin that fails to
import is logged and recorded in :attr:`PluginHost.failures` (``/readyz`` shows it); the app
starts without it. ``plugins_trace`` logs every hook call.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

import pluggy

from platform_core import PROJECT_NAME, hookspecs
from platform_core.config import Settings

log = logging.getLogger("fireside.plugins")
trace_log = logging.getLogger("fireside.hooks")

DEFAULT_PLUGINS: tuple[str, ...] = (
    "platform_core.default_plugins.mail",
    "platform_core.default_plugins.text_search",
    "platform_core.default_plugins.jobs",
)
"""The core's own plugins, by module (named ``core.<last part>``)."""


class PluginHost:
    """The plugins of one app (or worker, or command)."""

    def __init__(self, settings: Settings, extra: Iterable[Any] = ()) -> None:
        self.pm = pluggy.PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._scopes: dict[str, str] | None = None
        self.failures: dict[str, str] = {}
        """Plugins that could not be loaded: name -> error."""
        disabled = set(settings.plugins_disabled)
        for name in disabled:
            self.pm.set_blocked(name)
        for module_name in DEFAULT_PLUGINS:
            name = "core." + module_name.rsplit(".", 1)[1]
            if name not in disabled:
                self.pm.register(importlib.import_module(module_name), name=name)
        for ep in entry_points(group=PROJECT_NAME):
            if ep.name in disabled:
                log.info("plugin %s is disabled by configuration", ep.name)
                continue
            try:
                self.pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must not stop the app
                self.failures[ep.name] = f"{type(exc).__name__}: {exc}"
                log.exception("plugin %s failed to load and is not active", ep.name)
        for plugin in extra:
            self.pm.register(plugin)
        if settings.plugins_trace:
            self.pm.trace.root.setwriter(lambda message: trace_log.info("%s", message.rstrip()))
            self.pm.enable_tracing()
        # hook: add_hookspecs
        self.pm.hook.add_hookspecs(pm=self.pm)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            log.warning("a plugin implements a hook nobody declares: %s", exc)

    @property
    def hook(self) -> Any:
        """``host.hook.NAME(...)``: call a hook."""
        return self.pm.hook

    def names(self) -> list[str]:
        """Names of the active plugins, in registration order."""
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def scopes(self) -> dict[str, str]:
        """The OAuth scopes the plugins' APIs check: name -> description (computed once)."""
        if self._scopes is None:
            # hook: register_scopes
            self._scopes = {s.name: s.description for s in self.collect("register_scopes")}
        return self._scopes

    def collect(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call a ``register_*`` hook and flatten the lists the plugins return."""
        out: list[Any] = []
        for result in getattr(self.pm.hook, hook_name)(**kwargs):
            if result:
                out.extend(result)
        return out
