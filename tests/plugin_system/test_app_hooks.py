"""The setup hooks: blueprints, readiness checks, the CapabilityStatement, scopes, plugin
hookspecs and plugin migrations."""

from __future__ import annotations

import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pluggy
import sqlalchemy as sa
from flask import Blueprint, jsonify

from platform_core import hookimpl, hookspec
from platform_core.db.migrate import downgrade, migrate_core
from platform_core.oauth.clients import ClientRegistrationError, register_client
from platform_core.plugin_api import ReadinessCheck, ScopeDefinition
from platform_core.web.api import ApiBlueprint, caller, require


class Routes:
    @hookimpl
    def register_blueprints(self) -> list[Blueprint]:
        plain = Blueprint("hello_plain", __name__, url_prefix="/hello")

        @plain.get("/ping")
        def ping() -> Any:
            return jsonify(pong=True)

        api = ApiBlueprint("hello_api", __name__, url_prefix="/api/hello")

        @api.get("/me")
        @api.response(200)
        def me() -> Any:
            ctx = caller()
            require(ctx, scope="hello/me.read")
            return {"actor": ctx.actor}

        return [plain, api]


def test_hook_register_blueprints(make_app, app) -> None:
    from tests.conftest import issue_token

    client = make_app(Routes()).test_client()
    assert client.get("/hello/ping").get_json() == {"pong": True}
    assert "/api/hello/me" in client.get("/api/openapi.json").get_json()["paths"]
    resp = client.get("/api/hello/me")
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"
    wrong = {"Authorization": f"Bearer {issue_token(app, 'system/*.rs')}"}
    assert client.get("/api/hello/me", headers=wrong).status_code == 403
    right = {"Authorization": f"Bearer {issue_token(app, 'hello/me.read')}"}
    assert client.get("/api/hello/me", headers=right).status_code == 200


class Checks:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    @hookimpl
    def register_readiness_checks(self, core: Any) -> list[ReadinessCheck]:
        assert core.settings is not None

        def check() -> str | None:
            if isinstance(self.answer, Exception):
                raise self.answer
            return self.answer

        return [ReadinessCheck("widget service", check)]


def test_hook_register_readiness_checks(make_app) -> None:
    ok = make_app(Checks(None)).test_client().get("/readyz")
    assert ok.status_code == 200
    assert ok.get_json()["checks"]["widget service"] == "ok"
    down = make_app(Checks("connection refused")).test_client().get("/readyz")
    assert down.status_code == 503
    assert down.get_json()["checks"]["widget service"] == "unavailable: connection refused"
    boom = make_app(Checks(OSError("no route"))).test_client().get("/readyz")
    assert boom.status_code == 503
    assert boom.get_json()["checks"]["widget service"] == "unavailable: OSError"


class Publisher:
    @hookimpl
    def prepare_capability_statement(self, statement: dict[str, Any]) -> None:
        statement["implementation"]["description"] = "Fireside with widgets"


class BrokenPublisher:
    @hookimpl
    def prepare_capability_statement(self, statement: dict[str, Any]) -> None:
        statement["software"]["name"] = "half-changed"
        raise RuntimeError("oops")


def test_hook_prepare_capability_statement(make_app, client_for, caplog) -> None:
    fhir = client_for(make_app(Publisher(), BrokenPublisher()))
    statement = fhir.get("metadata").get_json()
    assert statement["implementation"]["description"] == "Fireside with widgets"
    assert statement["software"]["name"] == "Fireside"  # the failing plugin changed nothing
    assert "prepare_capability_statement" in caplog.text


def test_hook_register_scopes(make_app, app) -> None:
    class Scopes:
        @hookimpl
        def register_scopes(self) -> list[ScopeDefinition]:
            return [ScopeDefinition("widgets/orders.write", "Place widget orders for you")]

    application = make_app(Scopes())
    config = application.test_client().get("/.well-known/smart-configuration").get_json()
    assert "widgets/orders.write" in config["scopes_supported"]
    scopes = application.extensions["fireside"].plugins.scopes()
    db = application.extensions["fireside"].db
    client = register_client(
        db,
        name="Widget shop",
        kind="public",
        scope="widgets/orders.write patient/Patient.rs",
        redirect_uris=["https://shop.example/cb"],
        plugin_scopes=scopes,
    )
    assert "widgets/orders.write" in client.client.scope
    try:
        register_client(
            db,
            name="Widget shop",
            kind="public",
            scope="widgets/orders.delete",
            redirect_uris=["https://shop.example/cb"],
            plugin_scopes=scopes,
        )
    except ClientRegistrationError as exc:
        assert "widgets/orders.delete" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an undeclared scope was accepted")


def test_hook_add_hookspecs(make_app) -> None:
    specs = types.ModuleType("widget_specs")

    @hookspec
    def widget_made(widget: str) -> str:  # pragma: no cover - a spec has no body
        """A widget was made."""

    specs.widget_made = widget_made  # type: ignore[attr-defined]

    class Publisher:
        @hookimpl
        def add_hookspecs(self, pm: pluggy.PluginManager) -> None:
            pm.add_hookspecs(specs)

    class Listener:
        @hookimpl
        def widget_made(self, widget: str) -> str:
            return f"heard {widget}"

    application = make_app(Publisher(), Listener())
    hook = application.extensions["fireside"].plugins.hook
    assert hook.widget_made(widget="w1") == ["heard w1"]


MIGRATION = '''
"""widget tables"""
import sqlalchemy as sa
from alembic import op

revision = "widgets_0001"
down_revision = None
branch_labels = ("widgets",)
depends_on = None


def upgrade() -> None:
    op.create_table("widget", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("widget")
'''


def test_hook_register_migrations(make_app, tmp_path: Path) -> None:
    versions = tmp_path / "widget_versions"
    versions.mkdir()
    (versions / "widgets_0001.py").write_text(textwrap.dedent(MIGRATION))

    class Migrations:
        @hookimpl
        def register_migrations(self) -> list[str]:
            return [str(versions)]

    application = make_app(Migrations())
    core = application.extensions["fireside"]
    migrate_core(core)
    try:
        assert "widget" in sa.inspect(core.db).get_table_names()
    finally:
        others = core.plugins.collect("register_migrations")
        downgrade(core.db, "widgets@base", extra_locations=[*others, str(versions)])
    assert "widget" not in sa.inspect(core.db).get_table_names()
    sys.modules.pop("widgets_0001", None)
