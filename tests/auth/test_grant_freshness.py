"""An account's state reaches its tokens on the very next request, in every process.

The grant resolver reads the account (status, token generation, role, FHIR resource) and
its links on every verification, so nothing has to be invalidated: a second app on the same database
(another worker, another node) refuses a suspended account's token as soon as the
suspension has committed, without anyone calling ``GrantResolver.forget``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from platform_core.app import create_app
from platform_core.auth.schema import UserPatientRow
from platform_core.identity.users import link_patient, set_fhir_user, set_password, set_status
from tests.auth.conftest import make_user
from tests.conftest import BASE, FhirClient, issue_token


@pytest.fixture
def second_app(app: Flask) -> Iterator[Flask]:
    """Another app (another process, as far as caches go) on the suite's database."""
    settings = app.extensions["fireside"].settings
    other = create_app(
        {
            "database_url": settings.database_url,
            "mail_url": settings.mail_url,
            "base_url": BASE,
            "audit_flush_ms": 3_600_000,
            "jobs_inline_background": False,
            "jobs_inline_sync": True,
        }
    )
    yield other
    other.extensions["fireside"].dispose()


def _clients(app: Flask, second_app: Flask, token: str) -> tuple[FhirClient, FhirClient]:
    return FhirClient(app.test_client(), token), FhirClient(second_app.test_client(), token)


def _statuses(clients: tuple[FhirClient, ...], path: str) -> list[int]:
    return [client.get(path).status_code for client in clients]


def test_a_suspended_accounts_token_is_refused_on_the_very_next_request_everywhere(
    app: Flask, second_app: Flask, db: Any, world: dict[str, Any]
) -> None:
    patient = world["a"]
    user = make_user(db, "patient", f"Patient/{patient}", patients=[(patient, "self")])
    token = issue_token(app, "user/*.rs", user_id=user, generation=0)
    clients = _clients(app, second_app, token)
    path = f"Patient/{patient}"
    assert _statuses(clients, path) == [200, 200]  # both apps have seen the account

    set_status(db, user, "suspended")  # nobody tells either app
    for client in clients:
        resp = client.get(path)
        assert resp.status_code == 401
        assert "not active" in resp.headers["WWW-Authenticate"]

    set_status(db, user, "active")
    # Tokens issued before the suspension stay dead: it bumped the generation.
    assert _statuses(clients, path) == [401, 401]
    fresh = issue_token(app, "user/*.rs", user_id=user, generation=1)
    assert _statuses(_clients(app, second_app, fresh), path) == [200, 200]


def test_a_password_change_refuses_older_tokens_on_the_very_next_request_everywhere(
    app: Flask, second_app: Flask, db: Any, world: dict[str, Any]
) -> None:
    patient = world["a"]
    user = make_user(db, "patient", f"Patient/{patient}", patients=[(patient, "self")])
    clients = _clients(app, second_app, issue_token(app, "user/*.rs", user_id=user, generation=0))
    path = f"Patient/{patient}"
    assert _statuses(clients, path) == [200, 200]

    set_password(db, user, "a new and long passphrase 2031")
    for client in clients:
        resp = client.get(path)
        assert resp.status_code == 401
        assert "password change" in resp.headers["WWW-Authenticate"]


def test_a_changed_fhir_resource_is_seen_at_once_everywhere(
    app: Flask, second_app: Flask, db: Any, world: dict[str, Any]
) -> None:
    """The account's own FHIR resource is read with the account."""
    a, b = world["a"], world["b"]
    user = make_user(db, "patient", f"Patient/{a}")
    clients = _clients(app, second_app, issue_token(app, "user/*.rs", user_id=user, generation=0))
    assert _statuses(clients, f"Patient/{a}") == [200, 200]
    assert _statuses(clients, f"Patient/{b}") == [404, 404]

    set_fhir_user(db, user, f"Patient/{b}")
    assert _statuses(clients, f"Patient/{b}") == [200, 200]
    assert _statuses(clients, f"Patient/{a}") == [404, 404]


def test_a_new_or_removed_link_is_seen_at_once_everywhere(
    app: Flask, second_app: Flask, db: Any, world: dict[str, Any]
) -> None:
    """The links are read with the account, in the same statement: nothing is cached."""
    a, b = world["a"], world["b"]
    user = make_user(db, "patient", f"Patient/{a}")
    clients = _clients(app, second_app, issue_token(app, "user/*.rs", user_id=user, generation=0))
    assert _statuses(clients, f"Patient/{b}") == [404, 404]

    link_patient(db, user, b, "guardian")  # nobody tells either app
    assert _statuses(clients, f"Patient/{b}") == [200, 200]

    with db.begin() as conn:
        conn.execute(sa.delete(UserPatientRow.__table__).where(UserPatientRow.user_id == user))
    assert _statuses(clients, f"Patient/{b}") == [404, 404]
    assert _statuses(clients, f"Patient/{a}") == [200, 200]  # its own Patient stays
