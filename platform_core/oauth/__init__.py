"""The OAuth 2 / SMART App Launch 2.2 / OpenID Connect authorization server (authlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from platform_core.app import Core


def init_app(app: Flask, core: Core) -> None:
    """Register the authorization server's endpoints on ``app``."""
