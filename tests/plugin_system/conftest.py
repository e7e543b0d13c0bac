"""Fixtures for plugin tests: apps with throwaway plugins on the suite's database, and
entry points that point at test modules (the real discovery code path loads them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from flask import Flask

from platform_core import PROJECT_NAME, plugin_host
from platform_core.app import create_app
from tests.conftest import BASE, FhirClient, issue_token

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(app: Flask) -> Iterator[AppFactory]:
    """``make_app(*plugins, **config)``: a new app on the suite's database with ``plugins``
    registered (each a module or an object with ``@hookimpl`` methods)."""
    made: list[Flask] = []
    base = app.extensions["fireside"].settings

    def build(*plugins: Any, **config: Any) -> Flask:
        settings = {
            "database_url": base.database_url,
            "base_url": BASE,
            "audit_flush_ms": 3_600_000,
            # Scheduled jobs (the daily purge) run when a test asks, never mid-test.
            "jobs_inline_background": False,
            # Inline jobs finish before the request answers, so a test sees their effect.
            "jobs_inline_sync": True,
            **config,
        }
        application = create_app(settings, plugins=plugins)
        made.append(application)
        return application

    yield build
    for application in made:
        application.extensions["fireside"].dispose()


@pytest.fixture
def client_for() -> Callable[..., FhirClient]:
    """``client_for(app, scope=...)``: a FHIR client on ``app`` with a token it issued."""

    def build(application: Flask, scope: str = "system/*.cruds", **claims: Any) -> FhirClient:
        return FhirClient(application.test_client(), issue_token(application, scope, **claims))

    return build


@pytest.fixture
def entry_points(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``entry_points(name="module:attr", ...)``: the installed plugins are exactly these."""

    def install(**targets: str) -> None:
        eps = [EntryPoint(name, value, PROJECT_NAME) for name, value in targets.items()]

        def fake(*, group: str) -> list[EntryPoint]:
            return eps if group == PROJECT_NAME else []

        monkeypatch.setattr(plugin_host, "entry_points", fake)

    return install
