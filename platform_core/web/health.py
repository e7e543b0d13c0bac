"""``/healthz`` (the process is alive) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

bp = Blueprint("health", __name__)


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
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
