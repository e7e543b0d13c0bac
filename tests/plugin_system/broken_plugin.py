"""A plugin that cannot be imported (its dependency is missing)."""

from __future__ import annotations

import fireside_dependency_that_is_not_installed  # noqa: F401
