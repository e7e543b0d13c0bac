"""Fixtures of the authorization-server tests: users signed in through a real session, the
three kinds of client, PKCE pairs, client assertions, a browser-like walk through the
consent page, and a recorded audit trail.

``core.audit`` is swapped for a recorder in every test, so that audit records (which the
real log writes as AuditEvent resources in the background) can be asserted on and do not
disturb the row counts that prove a refused request changed nothing.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.test import TestResponse

from platform_core.audit.records import AuditRecord
from platform_core.fhir.context import RequestContext
from platform_core.identity import passwords
from platform_core.identity.session import log_in
from platform_core.identity.users import User, create_user, link_patient
from platform_core.oauth.clients import Client, register_client

BASE = "http://testserver"
FHIR_BASE = f"{BASE}/fhir"
TOKEN_URL = f"{BASE}/oauth2/token"
APP_REDIRECT = "https://app.example.org/callback"
USER_SCOPES = (
    "openid fhirUser profile launch launch/patient launch/encounter offline_access "
    "online_access patient/*.cruds user/*.cruds patient/*.read patient/*.write user/*.read"
)
SYSTEM_SCOPES = "system/*.rs system/Patient.cruds system/*.read"


# --- cross-cutting ---------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _cheap_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with minimal cost: the same code path, a fraction of the CPU."""
    monkeypatch.setattr(
        passwords, "hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )


@dataclass
class AuditTrail:
    """Stands in for ``core.audit``: keeps what was recorded."""

    records: list[AuditRecord] = field(default_factory=list)

    def record(self, record: AuditRecord) -> None:
        self.records.append(record)

    def tokens(self) -> list[AuditRecord]:
        return [r for r in self.records if r.kind == "token"]

    def close(self) -> None:
        """Nothing to flush."""


@pytest.fixture(autouse=True)
def audit(app: Flask, monkeypatch: pytest.MonkeyPatch) -> AuditTrail:
    trail = AuditTrail()
    monkeypatch.setattr(app.extensions["fireside"], "audit", trail)
    return trail


@pytest.fixture
def core(app: Flask) -> Any:
    return app.extensions["fireside"]


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    """A browser: keeps cookies, does not follow redirects."""
    return app.test_client()


# --- people and patients -------------------------------------------------------------------
@pytest.fixture
def make_user(db: sa.Engine) -> Callable[..., User]:
    def make(role: str = "patient", fhir_user: str | None = None, **kw: Any) -> User:
        email = kw.pop("email", f"{role}-{uuid.uuid4().hex[:8]}@example.org")
        return create_user(
            db, email=email, password=kw.pop("password", None), role=role, fhir_user=fhir_user
        )

    return make


@pytest.fixture
def make_patient(core: Any) -> Callable[..., str]:
    """Store a Patient and return its id."""

    def make(given: str = "Ada", family: str = "Lovelace", birth: str = "2015-04-02") -> str:
        resource = {
            "resourceType": "Patient",
            "name": [{"given": [given], "family": family}],
            "birthDate": birth,
        }
        with core.repository.transaction() as conn:
            stored = core.repository.create(RequestContext.system(), conn, resource)
        return str(stored.id)

    return make


@pytest.fixture
def make_encounter(core: Any) -> Callable[[str], str]:
    def make(patient_id: str) -> str:
        resource = {
            "resourceType": "Encounter",
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
            },
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        with core.repository.transaction() as conn:
            stored = core.repository.create(RequestContext.system(), conn, resource)
        return str(stored.id)

    return make


def sign_in(app: Flask, web: FlaskClient, user: User) -> None:
    """Give ``web`` a real signed-in session for ``user`` (as the login page would)."""
    with app.test_request_context():
        log_in(user)
        data = dict(flask.session)
    with web.session_transaction() as session:
        session.clear()
        session.update(data)


@dataclass
class Person:
    """A signed-in user with their own Patient record."""

    user: User
    patient_id: str


@pytest.fixture
def patient_user(
    app: Flask,
    web: FlaskClient,
    make_user: Callable[..., User],
    make_patient: Callable[..., str],
    db: sa.Engine,
) -> Person:
    """A patient, signed in on ``web``."""
    pid = make_patient("Grace", "Hopper", "1980-12-09")
    user = make_user("patient", f"Patient/{pid}")
    link_patient(db, user.id, pid, "self")
    sign_in(app, web, user)
    return Person(user, pid)


# --- clients ---------------------------------------------------------------------------------
@pytest.fixture
def public_client(db: sa.Engine) -> Client:
    return register_client(
        db,
        name="Growth Chart",
        kind="public",
        scope=USER_SCOPES,
        redirect_uris=[APP_REDIRECT, "http://localhost:9000/cb"],
    ).client


@dataclass
class Confidential:
    client: Client
    secret: str


@pytest.fixture
def symmetric_client(db: sa.Engine) -> Confidential:
    registered = register_client(
        db,
        name="Clinic Portal",
        kind="confidential-symmetric",
        scope=USER_SCOPES + " " + SYSTEM_SCOPES,
        redirect_uris=["https://portal.example.org/cb"],
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
    )
    assert registered.client_secret is not None
    return Confidential(registered.client, registered.client_secret)


@pytest.fixture(scope="session")
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)


@pytest.fixture(scope="session")
def ec_key() -> ECKey:
    return ECKey.generate_key("P-384", parameters={"kid": "ec-1"}, private=True)


def public_jwks(*keys: Any) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


@dataclass
class Backend:
    client: Client
    key: Any
    alg: str


@pytest.fixture
def backend(db: sa.Engine, rsa_key: RSAKey) -> Backend:
    """A SMART Backend Services client with an inline RS384 key."""
    client = register_client(
        db,
        name="Bulk Exporter",
        kind="confidential-asymmetric",
        scope=SYSTEM_SCOPES,
        jwks=public_jwks(rsa_key),
    ).client
    return Backend(client, rsa_key, "RS384")


def assertion(
    client_id: str,
    key: Any,
    *,
    alg: str = "RS384",
    aud: str = TOKEN_URL,
    exp_in: int = 60,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed client assertion (RFC 7523)."""
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "exp": now + exp_in,
        "iat": now,
        "jti": jti or uuid.uuid4().hex,
        **claims,
    }
    hdr = {"alg": alg, "typ": "JWT", "kid": key.kid, **(header or {})}
    return jwt.encode(hdr, body, key, algorithms=[alg])


def backend_form(token: str, scope: str = "system/*.rs") -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
    }


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# --- the browser part of the authorization code flow ---------------------------------------
@dataclass
class Pkce:
    verifier: str
    challenge: str


def make_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return Pkce(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode())


@dataclass
class AuthRequest:
    """The parameters of one authorization request, and its PKCE pair."""

    params: dict[str, str]
    pkce: Pkce

    @property
    def state(self) -> str:
        return self.params["state"]


def auth_request(
    client: Client,
    scope: str = "openid fhirUser launch/patient patient/*.rs offline_access",
    *,
    redirect_uri: str | None = None,
    **extra: str,
) -> AuthRequest:
    pkce = make_pkce()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri or client.redirect_uris[0],
        "scope": scope,
        "state": secrets.token_urlsafe(12),
        "aud": FHIR_BASE,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return AuthRequest({k: v for k, v in params.items() if v is not None}, pkce)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: TestResponse) -> str:
    found = CSRF_RE.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:2000]
    return found.group(1)


def decide(
    web: FlaskClient, req: AuthRequest, decision: str = "approve", patient: str | None = None
) -> TestResponse:
    """Open the consent page and press a button (picking ``patient`` first)."""
    page = web.get("/oauth2/authorize", query_string=req.params)
    assert page.status_code == 200, page.get_data(as_text=True)[:2000]
    form = {**req.params, "csrf_token": csrf_of(page), "_decision": decision}
    if patient is not None:
        form["_patient"] = patient
    return web.post("/oauth2/authorize", data=form)


def redirect_params(response: TestResponse) -> dict[str, str]:
    """The query parameters of a redirect to the app."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}


def get_code(web: FlaskClient, req: AuthRequest, patient: str | None = None) -> str:
    params = redirect_params(decide(web, req, patient=patient))
    assert params["state"] == req.state
    return params["code"]


def exchange(
    web: FlaskClient,
    client: Client,
    code: str,
    req: AuthRequest,
    *,
    headers: dict[str, str] | None = None,
    **form: str,
) -> TestResponse:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": req.params["redirect_uri"],
        "code_verifier": req.pkce.verifier,
        "client_id": client.client_id,
        **form,
    }
    return web.post("/oauth2/token", data={k: v for k, v in data.items() if v}, headers=headers)


@pytest.fixture
def tokens_for(
    web: FlaskClient, public_client: Client, patient_user: Person
) -> Callable[..., dict[str, Any]]:
    """Run the whole code flow for the signed-in patient; returns the token response."""

    def run(scope: str = "openid fhirUser launch/patient patient/*.rs offline_access") -> Any:
        req = auth_request(public_client, scope)
        patient = patient_user.patient_id if "launch/patient" in scope else None
        code = get_code(web, req, patient=patient)
        response = exchange(web, public_client, code, req)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return run


@pytest.fixture
def refresh_form(public_client: Client) -> Callable[..., dict[str, str]]:
    def make(token: str, **extra: str) -> dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "refresh_token": token,
            "client_id": public_client.client_id,
            **extra,
        }

    return make


def only_changed(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The tables whose row counts differ, with the difference."""
    return {t: after[t] - before[t] for t in after if after[t] != before.get(t)}


@pytest.fixture
def no_jwks_cache(app: Flask) -> Iterator[None]:
    yield
    app.extensions["fireside_oauth"].jwks.forget()
