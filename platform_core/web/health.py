"""``/healthz`` (the process is alive) and ``/readyz`` (its dependencies answer).

``/readyz`` checks the database, every plugin's ``register_readiness_checks`` (a broker, a
search cluster), and that every installed plugin loaded; each failure is named.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from platform_core.plugin_api import ReadinessCheck

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)
CHECKS = "fireside_readiness_checks"


def init_app(app: Flask, core: Any) -> None:
    """Serve the health routes and collect the plugins' readiness checks."""
    app.register_blueprint(bp)
    # hook: register_readiness_checks
    app.extensions[CHECKS] = core.plugins.collect("register_readiness_checks", core=core)


def _run(check: ReadinessCheck) -> str:
    try:
        problem = check.check()
    except Exception as exc:
        log.warning("readiness check %s failed: %s", check.name, exc)
        return f"unavailable: {type(exc).__name__}"
    return "ok" if problem is None else f"unavailable: {problem}"


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Alive: answers as long as the process serves requests."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready: the database answers a trivial query."""
    core = current_app.extensions["fireside"]
    checks: dict[str, str] = {}
    try:
        with core.db.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    for check in current_app.extensions.get(CHECKS, []):
        checks[check.name] = _run(check)
    for name, error in core.plugins.failures.items():
        checks[f"plugin:{name}"] = f"failed to load: {error}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
