"""People who sign in: accounts, roles, passwords, sign-up, verification, reset, lockout,
TOTP, and the server-rendered sign-in pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from platform_core.app import Core


def init_app(app: Flask, core: Core) -> None:
    """Register the identity pages and services on ``app``."""
