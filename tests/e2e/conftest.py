"""Fixtures of the end-to-end browser tests: Debian's headless Chromium driven by Playwright,
the app over real HTTP (``live_server``), and a stand-in SMART app whose redirect URI is a
tiny stdlib HTTP server on the loopback interface, so the browser really lands on it.

Playwright's own browser downloads are never used: the tests run ``/usr/bin/chromium`` (CI
installs Debian's ``chromium`` package) and are skipped when it is missing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from platform_core.identity import passwords
from platform_core.identity.users import User, create_user, link_patient
from platform_core.oauth.clients import Client, register_client
from tests.conftest import FhirClient

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FHIR_AUD = "http://testserver/fhir"
"""The ``aud`` of every authorization request: the FHIR base derived from the test app's
``base_url`` (the browser itself talks to the loopback address of ``live_server``)."""
PASSWORD = "correct horse battery staple"
STANDALONE_SCOPE = "openid fhirUser launch/patient patient/*.rs offline_access"
PAGE_TIMEOUT_MS = 15_000


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives a real browser (headless Chromium)")


@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with minimal cost: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(
        passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


# --- the browser -----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); e2e tests need it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh page in a fresh browser context (no cookies from another test)."""
    context: BrowserContext = chromium.new_context(locale="en-GB")
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$FIRESIDE_E2E_SCREENSHOT_DIR``, else the test's own tmp dir."""
    folder = Path(os.environ.get("FIRESIDE_E2E_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- the app's redirect URI ------------------------------------------------------------------
@dataclass
class CallbackServer:
    """A loopback HTTP server standing in for the SMART app: ``/callback`` answers 200 "ok"
    and records its query string."""

    base: str
    hits: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/callback"

    def record(self, path: str) -> None:
        with self.lock:
            self.hits.append(path)

    def params(self) -> dict[str, list[str]]:
        """The query of the one request that reached ``/callback``."""
        with self.lock:
            hits = [h for h in self.hits if urlsplit(h).path == "/callback"]
        assert len(hits) == 1, hits
        return parse_qs(urlsplit(hits[0]).query, keep_blank_values=True)

    def reset(self) -> None:
        with self.lock:
            self.hits.clear()


@pytest.fixture(scope="session")
def _callback_server() -> Iterator[CallbackServer]:
    holder: list[CallbackServer] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            holder[0].record(self.path)
            found = urlsplit(self.path).path == "/callback"
            body = b"ok" if found else b"not found"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(CallbackServer(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def callback(_callback_server: CallbackServer) -> CallbackServer:
    _callback_server.reset()
    return _callback_server


@pytest.fixture
def smart_app(db: sa.Engine, callback: CallbackServer) -> Client:
    """A public SMART app whose only redirect URI is the callback server."""
    return register_client(
        db,
        name="Growth Chart",
        kind="public",
        scope="openid fhirUser launch/patient patient/*.rs offline_access",
        redirect_uris=[callback.redirect_uri],
    ).client


# --- people and patients ---------------------------------------------------------------------
@pytest.fixture
def make_patient(fhir: FhirClient) -> Callable[..., str]:
    """Store a Patient through the FHIR API (system token); returns its id."""

    def make(given: str, family: str, birth: str) -> str:
        return str(
            fhir.create(
                {
                    "resourceType": "Patient",
                    "name": [{"given": [given], "family": family}],
                    "birthDate": birth,
                }
            )["id"]
        )

    return make


@pytest.fixture
def make_user(db: sa.Engine) -> Callable[..., User]:
    """An active account with :data:`PASSWORD`, linked to ``links`` (patient id ->
    relationship)."""

    def make(role: str, links: dict[str, str], fhir_user: str | None = None) -> User:
        user = create_user(
            db,
            email=f"{role}-{uuid.uuid4().hex[:8]}@example.org",
            password=PASSWORD,
            role=role,
            fhir_user=fhir_user,
        )
        for patient_id, relationship in links.items():
            link_patient(db, user.id, patient_id, relationship)
        return user

    return make


# --- the authorization request ---------------------------------------------------------------
@dataclass
class AuthRequest:
    params: dict[str, str]
    verifier: str

    @property
    def state(self) -> str:
        return self.params["state"]

    def url(self, live: str) -> str:
        return f"{live}/oauth2/authorize?{urlencode(self.params)}"


def auth_request(client: Client, scope: str = STANDALONE_SCOPE) -> AuthRequest:
    """A standalone-launch request with a fresh ``state`` and PKCE S256 pair."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
        .rstrip(b"=")
        .decode("ascii")
    )
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uris[0],
        "scope": scope,
        "state": secrets.token_urlsafe(16),
        "aud": FHIR_AUD,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return AuthRequest(params, verifier)
