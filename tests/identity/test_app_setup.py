"""What ``init_app`` sets up: the session key, cookie flags, the blueprints."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from platform_core.app import create_app
from platform_core.identity.redirects import safe_next
from platform_core.key_files import load_or_create_secret_key


def test_secret_key_is_generated_once_with_mode_0600(tmp_path):
    path = tmp_path / "var" / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) == 64 and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret_key(path) == first
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    path = tmp_path / "secret_key"
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_secret_key(path)))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and path.read_text().strip() == keys[0]


def test_app_uses_the_configured_key_and_cookie_flags(app):
    assert app.secret_key
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is False  # base_url is http://testserver
    assert "identity" in app.blueprints and "identity_admin" in app.blueprints
    assert app.extensions["fireside"] is not None


@pytest.fixture
def https_app(tmp_path):
    application = create_app(
        {
            "database_url": f"sqlite:///{tmp_path / 'x.db'}",
            "base_url": "https://fireside.example",
            "secret_key": "configured-secret",
            "mail_url": f"file://{tmp_path / 'mail'}",
        }
    )
    yield application
    application.extensions["fireside"].dispose()


def test_https_base_url_makes_the_cookie_secure(https_app):
    assert https_app.secret_key == "configured-secret"
    assert https_app.config["SESSION_COOKIE_SECURE"] is True
    resp = https_app.test_client().get("/auth/login")
    cookie = resp.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "/d"),
        ("", "/d"),
        ("/ok?a=1#f", "/ok?a=1#f"),
        ("//evil", "/d"),
        ("/\\\\evil", "/d"),
        ("https://evil", "/d"),
        ("/x\\y", "/d"),
        ("/x\ny", "/d"),
        ("x", "/d"),
        ("/" + "a" * 3000, "/d"),
    ],
)
def test_safe_next(value, expected):
    assert safe_next(value, "/d") == expected
