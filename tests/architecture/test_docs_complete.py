"""Docs stay true: every error code and every configuration key is documented."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from platform_core.config import Settings
from platform_core.fhir.error_codes import all_codes

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_error_code_is_documented():
    text = (DOCS / "error_codes.md").read_text()
    missing = [e.code for e in all_codes() if f"`{e.code}`" not in text]
    assert missing == []


def test_every_configuration_key_is_documented():
    text = (DOCS / "configuration.md").read_text()
    keys = [f.name for f in fields(Settings) if f.name != "extra"]
    missing = [k for k in keys if f"`{k}`" not in text or f"FIRESIDE_{k.upper()}" not in text]
    assert missing == []
