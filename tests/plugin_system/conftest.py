"""Fixtures for plugin tests: apps with throwaway plugins on the suite's database, and
entry points that point at test modules (the real discovery code path loads them)."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint
from typing import Any

import pytest
from flask import Flask

from platform_core import PROJECT_NAME, plugin_host
from tests.conftest import FhirClient, issue_token


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
