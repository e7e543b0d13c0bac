"""The care_metrics plugin's hook implementations: the ``/api/care_metrics`` blueprint
(docs/care_metrics.md). It owns no tables: every number is a query over the core's."""

from __future__ import annotations

from flask import Blueprint

from platform_core import hookimpl
from plugins.care_metrics.api import make_blueprint


@hookimpl
def register_blueprints() -> list[Blueprint]:
    return [make_blueprint()]
