"""Fireside's core: the FHIR server, identity, jobs and the plugin host.

Plugin authors import the hook marker from here::

    from platform_core import hookimpl

and see :mod:`platform_core.hookspecs` for every hook and :mod:`platform_core.plugin_api`
for the dataclasses the hooks exchange.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "fireside"
"""The pluggy project name and the entry-point group plugins are discovered through."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]
