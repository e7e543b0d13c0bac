"""Accounts: creating, finding, validating, linking patients."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from platform_core.identity import passwords
from platform_core.identity.users import (
    ROLES,
    IdentityError,
    User,
    create_user,
    find_user_by_email,
    get_user,
    link_patient,
    list_users,
    patients_of,
    set_password,
    set_status,
    verify_practitioner,
)
from tests.identity.conftest import PASSWORD, user_row


def test_create_user_returns_the_stored_account(db):
    user = create_user(
        db, email="  Ada@Example.ORG ", password=PASSWORD, role="patient", fhir_user="Patient/12"
    )
    assert isinstance(user, User)
    assert user.email == "ada@example.org"
    assert (user.role, user.fhir_user, user.status) == ("patient", "Patient/12", "active")
    assert user.token_generation == 0 and user.verified_at is None and not user.totp_enabled
    assert get_user(db, user.id) == user
    assert find_user_by_email(db, "ADA@example.org") == user


def test_password_is_stored_as_an_argon2id_hash(db):
    user = create_user(db, email="a@example.org", password=PASSWORD, role="patient")
    stored = user_row(db, user.id).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert passwords.verify_password(stored, PASSWORD)
    assert not passwords.verify_password(stored, PASSWORD + "x")


def test_default_hasher_is_argon2id_with_recommended_cost():
    from argon2 import PasswordHasher, Type

    real = PasswordHasher()
    assert real.type is Type.ID and real.memory_cost >= 19 * 1024


def test_a_user_may_have_no_password_yet(db):
    user = create_user(db, email="b@example.org", password=None, role="practitioner")
    assert user_row(db, user.id).password_hash is None
    assert not passwords.verify_password(None, "")


def test_email_not_verified_is_recorded(db):
    user = create_user(
        db,
        email="c@example.org",
        password=PASSWORD,
        role="guardian",
        status="pending",
        email_verified=False,
    )
    assert user.status == "pending" and user.email_verified_at is None


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"role": "doctor"}, "unknown_role"),
        ({"password": "short"}, "weak_password"),
        ({"password": "1234567890"}, "weak_password"),
        ({"password": "aaaaaaaaaaaaaaaa"}, "weak_password"),
        ({"password": "x" * 2000}, "weak_password"),
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
        ({"email": "a b@example.org"}, "invalid_email"),
        ({"status": "deleted"}, "invalid_status"),
        ({"fhir_user": "Observation/1"}, "invalid_fhir_user"),
        ({"fhir_user": "Patient/"}, "invalid_fhir_user"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(db, counts, kwargs, code):
    before = counts()
    args = {"email": "d@example.org", "password": PASSWORD, "role": "patient", **kwargs}
    with pytest.raises(IdentityError) as err:
        create_user(db, **args)
    assert err.value.code == code and err.value.message
    assert counts() == before


def test_duplicate_email_is_refused_whatever_the_case(db, counts):
    create_user(db, email="e@example.org", password=PASSWORD, role="patient")
    before = counts()
    with pytest.raises(IdentityError) as err:
        create_user(db, email="E@EXAMPLE.org", password=PASSWORD, role="guardian")
    assert err.value.code == "duplicate_email"
    assert counts() == before


def test_every_role_can_be_created(db):
    for role in ROLES:
        assert create_user(db, email=f"{role}@example.org", password=None, role=role).role == role


def test_unknown_user_and_email_are_none(db):
    assert get_user(db, "00000000-0000-0000-0000-000000000000") is None
    assert find_user_by_email(db, "nobody@example.org") is None


def test_link_patient_and_patients_of(db, make_user):
    parent = make_user(role="guardian", fhir_user="RelatedPerson/3")
    link_patient(db, parent.id, "child-2", "guardian", related_person_id="3")
    link_patient(db, parent.id, "child-1", "guardian", related_person_id="3")
    link_patient(db, parent.id, "p-9", "self")
    link_patient(db, parent.id, "p-9", "self")  # idempotent
    assert patients_of(db, parent.id) == [
        ("p-9", "self"),
        ("child-1", "guardian"),
        ("child-2", "guardian"),
    ]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("p1", "friend"), "invalid_relationship"),
        (("bad id!", "self"), "invalid_patient_id"),
        (("p1", "guardian", "bad/rp"), "invalid_patient_id"),
    ],
)
def test_link_patient_refuses_bad_input_and_writes_nothing(db, make_user, counts, args, code):
    user = make_user()
    before = counts()
    with pytest.raises(IdentityError) as err:
        link_patient(db, user.id, *args)
    assert err.value.code == code
    assert counts() == before


def test_link_patient_needs_an_existing_user(db, counts):
    before = counts()
    with pytest.raises(IdentityError) as err:
        link_patient(db, "no-such-user", "p1", "self")
    assert err.value.code == "unknown_user"
    assert counts() == before


def test_patients_of_a_user_without_links_is_empty(db, make_user):
    assert patients_of(db, make_user().id) == []


def test_set_password_bumps_generation_and_clears_lockout(db, make_user):
    user = make_user()
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE auth_user SET failed_logins = 3, locked_until = updated_at WHERE id = :i"
            ),
            {"i": user.id},
        )
    updated = set_password(db, user.id, "another fine password")
    assert updated.token_generation == user.token_generation + 1
    row = user_row(db, user.id)
    assert row.failed_logins == 0 and row.locked_until is None
    assert passwords.verify_password(row.password_hash, "another fine password")


def test_suspending_ends_tokens_and_reactivating_keeps_them_ended(db, make_user):
    user = make_user()
    suspended = set_status(db, user.id, "suspended")
    assert suspended.status == "suspended" and suspended.token_generation == 1
    active = set_status(db, user.id, "active")
    assert active.status == "active" and active.token_generation == 1


def test_verify_practitioner_is_idempotent_and_only_for_practitioners(db, make_user):
    doc = make_user(role="practitioner")
    first = verify_practitioner(db, doc.id)
    assert first.verified_at is not None
    assert verify_practitioner(db, doc.id).verified_at == first.verified_at
    with pytest.raises(IdentityError) as err:
        verify_practitioner(db, make_user(role="patient").id)
    assert err.value.code == "not_allowed"


def test_list_users_filters_by_role_and_status(db, make_user):
    make_user(email="b@example.org", role="patient")
    make_user(email="a@example.org", role="practitioner")
    make_user(email="c@example.org", role="practitioner", status="suspended")
    assert [u.email for u in list_users(db)] == ["a@example.org", "b@example.org", "c@example.org"]
    assert [u.email for u in list_users(db, role="practitioner", status="active")] == [
        "a@example.org"
    ]
    assert [u.email for u in list_users(db, limit=1, offset=1)] == ["b@example.org"]
