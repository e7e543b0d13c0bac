"""The application factory.

``create_app(config)`` loads settings (defaults, TOML, ``FIRESIDE_*`` environment, then
``config``), builds the database engine, the FHIR repository and engine, and registers the
blueprints. Per-app state lives in ``app.extensions["fireside"]``, never in module globals,
so several apps (tests, workers) can live in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from platform_core import identity, oauth
from platform_core.audit.log import AuditLog
from platform_core.auth.policy import SmartPolicy
from platform_core.auth.services import AuthServices
from platform_core.config import Settings, load_settings
from platform_core.db.engine import create_engine, create_read_engine, create_side_engine
from platform_core.fhir.engine import FhirEngine
from platform_core.fhir.narrowing import NarrowingPolicy
from platform_core.fhir.plugin_operations import PluginOperations
from platform_core.fhir.repository import Repository
from platform_core.fhir.security_context import SecurityContextPolicy
from platform_core.fhir.validation import validate_resource
from platform_core.identity.mail import Mailer, build_mailer
from platform_core.jobs import admin_api as jobs_admin_api
from platform_core.jobs.service import Jobs
from platform_core.logging_setup import configure_logging
from platform_core.oauth.clients import SwitchedOffClients
from platform_core.plugin_host import PluginHost
from platform_core.web import api, health
from platform_core.web.fhir_wsgi import FhirWsgi


@dataclass
class Core:
    """The core services of one app."""

    settings: Settings
    db: Engine
    repository: Repository
    fhir: FhirEngine
    auth: AuthServices
    audit: AuditLog
    plugins: PluginHost
    jobs: Jobs
    mailer: Mailer
    """Where this process's mail goes (``mail_url``); the ``mail.send`` job uses it."""

    def dispose(self) -> None:
        """Close every pooled database connection (tests, forked workers)."""
        self.jobs.close()
        self.audit.close()
        self.db.dispose()
        self.repository.read_engine.dispose()
        self.repository.side_engine.dispose()


def build_core(settings: Settings, plugins: Iterable[Any] = ()) -> Core:
    """The core services without a web app (CLI commands, jobs). ``plugins`` are registered
    after the installed ones (tests)."""
    host = PluginHost(settings, plugins)
    db = create_engine(settings)
    repository = Repository(
        db,
        settings,
        validator=validate_resource,
        read_engine=create_read_engine(settings, db),
        side_engine=create_side_engine(settings),
        hooks=host.hook,
    )

    def parse_criteria(rtype: str, pairs: list[tuple[str, str]]) -> list[Any]:
        return repository.parse_search(rtype, pairs).criteria

    repository.policy = SecurityContextPolicy(
        NarrowingPolicy(
            SmartPolicy(repository.base_url, parse_criteria),
            host.hook.fhir_search_narrowing,
            parse_criteria,
            repository.base_url,
        ),
        repository.base_url,
    )
    audit = AuditLog(repository, interval=settings.audit_flush_ms / 1000)
    operations = PluginOperations(host.collect("register_operations"), host.hook)
    jobs = Jobs.build(settings, db, host)
    repository.write_listeners.append(jobs.on_resource_change)
    core = Core(
        settings,
        db,
        repository,
        FhirEngine(repository, operations),
        AuthServices.build(settings, db, repository.read_engine),
        audit,
        host,
        jobs,
        build_mailer(settings.mail_url),
    )
    # Tokens of switched-off OAuth clients stop working (manage.py clients disable).
    core.auth.authenticator.client_is_active = SwitchedOffClients(repository.read_engine).is_active
    jobs.bind(core)
    repository.core = core
    return core


def create_app(config: dict[str, Any] | None = None, plugins: Iterable[Any] = ()) -> Flask:
    """Build a Fireside app; ``plugins`` are registered beside the installed ones."""
    settings = load_settings(config)
    configure_logging(settings.log_level)
    app = Flask("fireside")
    app.config["MAX_CONTENT_LENGTH"] = None  # the FHIR blueprint answers 413 itself
    core = build_core(settings, plugins)
    app.extensions["fireside"] = core
    health.init_app(app, core)
    identity.init_app(app, core)
    oauth.init_app(app, core)
    api.init_app(app)
    api.register(app, jobs_admin_api.create_blueprint())
    # hook: register_blueprints
    for blueprint in core.plugins.collect("register_blueprints"):
        api.register(app, blueprint)
    # Custom SearchParameters whose reindex a stopped process left unfinished.
    core.repository.reindexer.resume_all()
    if core.jobs.inline and settings.jobs_inline_background:
        core.jobs.start_background()  # retries and scheduled jobs without a broker
    # /fhir is served at the WSGI level, in front of Flask (see platform_core/web/fhir_wsgi.py).
    app.wsgi_app = FhirWsgi(app.wsgi_app, core)  # type: ignore[method-assign]
    if settings.trusted_proxies > 0:
        # Outermost, so /fhir, the pages and the APIs all see the caller's own address.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    logging.getLogger(__name__).debug("app created with database %s", settings.database_url)
    return app
