"""User accounts: creating, finding and changing the people who sign in.

Accounts live in ``auth_user`` (migration 0006, shared with the authorization server and the
token verifier). Callers get a frozen :class:`User`, never an ORM row or the password hash, so
the OAuth server, the admin API and the pages all see the same plain value.

Lifecycle (``status``): ``pending`` until the email address is verified, then ``active``;
an admin may ``suspend`` an account and reactivate it. A practitioner's ``verified_at`` is
set separately, by an admin, before they may prescribe. Changing the password bumps
``token_generation``, which ends every browser session and access token issued before.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from platform_core.auth.schema import ROLES, UserPatientRow, UserRow
from platform_core.db.engine import write_transaction
from platform_core.fhir.instants import now_utc
from platform_core.identity.errors import IdentityError
from platform_core.identity.passwords import hash_password

__all__ = [
    "RELATIONSHIPS",
    "ROLES",
    "STATUSES",
    "IdentityError",
    "User",
    "create_user",
    "find_user_by_email",
    "get_user",
    "link_patient",
    "list_users",
    "patients_of",
    "set_fhir_user",
    "set_password",
    "set_status",
    "verify_practitioner",
]

STATUSES = ("pending", "active", "suspended")
"""Account states: ``pending`` (email not verified yet), ``active``, ``suspended``."""
RELATIONSHIPS = ("self", "guardian", "care")
"""Why a user may act for a patient: is the patient, is a guardian, is in their care team."""

_EMAIL_RE = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+$")
_FHIR_USER_RE = re.compile(
    r"^(Patient|Practitioner|PractitionerRole|RelatedPerson)/[A-Za-z0-9\-.]{1,64}$"
)
_FHIR_ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True)
class User:
    """A person who signs in, as every other module sees them (no password hash)."""

    id: str
    email: str
    role: str
    """One of :data:`ROLES`."""
    fhir_user: str | None
    """The user's own FHIR resource, e.g. ``Patient/12``; None when not linked yet."""
    status: str
    """One of :data:`STATUSES`."""
    token_generation: int
    """Tokens and sessions carrying an older generation are no longer valid."""
    verified_at: datetime | None
    """When an admin verified this practitioner; None when not (yet) verified."""
    totp_enabled: bool
    """Whether login asks for a TOTP code after the password."""
    email_verified_at: datetime | None = None
    """When the owner followed the verification link (or an admin vouched for the address)."""
    created_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        """Whether the account may sign in and use its tokens."""
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        """Whether the user may manage other accounts."""
        return self.role in ("admin", "super_admin")


def user_from_row(row: Any) -> User:
    """A :class:`User` from an ``auth_user`` result row."""
    return User(
        id=row.id,
        email=row.email,
        role=row.role,
        fhir_user=row.fhir_user,
        status=row.status,
        token_generation=row.token_generation,
        verified_at=row.verified_at,
        totp_enabled=row.totp_secret is not None,
        email_verified_at=row.email_verified_at,
        created_at=row.created_at,
    )


_USERS = UserRow.__table__


def normalize_email(email: str) -> str:
    """The login form of an address: trimmed and lower-cased."""
    return email.strip().lower()


def check_email(email: str) -> str:
    """The normalized address; raises ``invalid_email`` when it cannot be one."""
    norm = normalize_email(email)
    if len(norm) > 320 or not _EMAIL_RE.match(norm):
        raise IdentityError("invalid_email", "Enter an email address such as name@example.org.")
    return norm


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise IdentityError(
            "unknown_role", f"Unknown role {role!r}; use one of {', '.join(ROLES)}."
        )


def _check_fhir_user(fhir_user: str | None) -> None:
    if fhir_user is not None and not _FHIR_USER_RE.match(fhir_user):
        raise IdentityError(
            "invalid_fhir_user",
            "fhir_user must be Patient/<id>, Practitioner/<id>, PractitionerRole/<id> or "
            "RelatedPerson/<id>.",
        )


def create_user(
    db: Engine,
    *,
    email: str,
    password: str | None,
    role: str,
    fhir_user: str | None = None,
    status: str = "active",
    email_verified: bool = True,
) -> User:
    """Create an account and return it.

    ``password`` None leaves the account without one (the owner sets it through a reset
    link). Raises :class:`IdentityError` (``invalid_email``, ``unknown_role``,
    ``invalid_status``, ``invalid_fhir_user``, ``weak_password``, ``duplicate_email``) before
    anything is written.
    """
    norm = check_email(email)
    _check_role(role)
    if status not in STATUSES:
        raise IdentityError("invalid_status", f"Unknown status {status!r}.")
    _check_fhir_user(fhir_user)
    password_hash = hash_password(password) if password is not None else None
    now = now_utc()
    values = {
        "id": str(uuid.uuid4()),
        "email": norm,
        "password_hash": password_hash,
        "role": role,
        "fhir_user": fhir_user,
        "status": status,
        "email_verified_at": now if email_verified else None,
        "verified_at": None,
        "totp_secret": None,
        "token_generation": 0,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": now,
        "updated_at": now,
    }
    duplicate = IdentityError("duplicate_email", "An account with this email address exists.")
    try:
        with write_transaction(db) as conn:
            taken = conn.execute(sa.select(_USERS.c.id).where(_USERS.c.email == norm)).first()
            if taken is not None:
                raise duplicate
            conn.execute(sa.insert(_USERS).values(**values))
    except IntegrityError as exc:  # a concurrent sign-up with the same address won
        raise duplicate from exc
    return User(
        id=values["id"],
        email=norm,
        role=role,
        fhir_user=fhir_user,
        status=status,
        token_generation=0,
        verified_at=None,
        totp_enabled=False,
        email_verified_at=values["email_verified_at"],
        created_at=now,
    )


def get_user(db: Engine, user_id: str, *, conn: Connection | None = None) -> User | None:
    """The user with this id, or None."""
    query = sa.select(_USERS).where(_USERS.c.id == user_id)
    if conn is not None:
        row = conn.execute(query).first()
    else:
        with db.connect() as own:
            row = own.execute(query).first()
    return user_from_row(row) if row is not None else None


def get_users(conn: Connection, user_ids: Collection[str]) -> dict[str, User]:
    """The users with these ids that exist, by id, in one query."""
    if not user_ids:
        return {}
    rows = conn.execute(sa.select(_USERS).where(_USERS.c.id.in_(list(user_ids))))
    return {row.id: user_from_row(row) for row in rows}


def find_user_by_email(db: Engine, email: str) -> User | None:
    """The user with this email address (any case), or None."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(_USERS).where(_USERS.c.email == normalize_email(email))
        ).first()
    return user_from_row(row) if row is not None else None


def list_users(
    db: Engine,
    *,
    role: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[User]:
    """Users in email order, optionally only those with a role or status."""
    query = sa.select(_USERS).order_by(_USERS.c.email).limit(limit).offset(offset)
    if role is not None:
        query = query.where(_USERS.c.role == role)
    if status is not None:
        query = query.where(_USERS.c.status == status)
    with db.connect() as conn:
        return [user_from_row(r) for r in conn.execute(query)]


def _update(db: Engine, user_id: str, *, conn: Connection | None = None, **values: Any) -> User:
    """Set columns of one user, in the caller's transaction when ``conn`` is given; raises
    ``unknown_user`` when there is none."""
    if conn is None:
        with write_transaction(db) as own:
            return _update(db, user_id, conn=own, **values)
    result = conn.execute(
        sa.update(_USERS).where(_USERS.c.id == user_id).values(updated_at=now_utc(), **values)
    )
    if result.rowcount != 1:
        raise IdentityError("unknown_user", f"No user with id {user_id}.")
    user = get_user(db, user_id, conn=conn)
    assert user is not None
    return user


def set_password(db: Engine, user_id: str, password: str) -> User:
    """Set a new password: bumps ``token_generation`` (ending every session and access
    token issued before) and clears any lockout."""
    password_hash = hash_password(password)
    return _update(
        db,
        user_id,
        password_hash=password_hash,
        token_generation=_USERS.c.token_generation + 1,
        failed_logins=0,
        locked_until=None,
    )


def set_fhir_user(
    db: Engine, user_id: str, fhir_user: str, *, conn: Connection | None = None
) -> None:
    """Link the account to its own FHIR resource (``Patient/1``, ``Practitioner/7``), in the
    caller's transaction when ``conn`` is given (so the resource and the link commit
    together). Raises ``invalid_fhir_user`` or ``unknown_user``."""
    _check_fhir_user(fhir_user)
    statement = (
        sa.update(_USERS)
        .where(_USERS.c.id == user_id)
        .values(fhir_user=fhir_user, updated_at=now_utc())
    )
    if conn is not None:
        result = conn.execute(statement)
    else:
        with write_transaction(db) as own:
            result = own.execute(statement)
    if result.rowcount != 1:
        raise IdentityError("unknown_user", f"No user with id {user_id}.")


def set_status(db: Engine, user_id: str, status: str, *, conn: Connection | None = None) -> User:
    """Suspend (``suspended``) or reactivate (``active``) an account, in the caller's
    transaction when ``conn`` is given (so the account and the caller's own records commit
    together, or neither does). Suspension also bumps ``token_generation`` so the account's
    sessions and tokens stop at once: every verification reads the generation afresh
    (:class:`platform_core.auth.grants.GrantResolver`), in any process. Raises
    ``invalid_status`` or ``unknown_user``."""
    if status not in STATUSES:
        raise IdentityError("invalid_status", f"Unknown status {status!r}.")
    extra: dict[str, Any] = {}
    if status == "suspended":
        extra["token_generation"] = _USERS.c.token_generation + 1
    return _update(db, user_id, conn=conn, status=status, **extra)


def verify_practitioner(db: Engine, user_id: str, *, conn: Connection | None = None) -> User:
    """Record that an admin checked this practitioner's credentials (idempotent: the first
    verification time is kept), in the caller's transaction when ``conn`` is given. Raises
    ``unknown_user`` or ``not_allowed`` (not a practitioner)."""
    user = get_user(db, user_id, conn=conn)
    if user is None:
        raise IdentityError("unknown_user", f"No user with id {user_id}.")
    if user.role != "practitioner":
        raise IdentityError("not_allowed", "Only practitioners are verified.")
    if user.verified_at is not None:
        return user
    return _update(db, user_id, conn=conn, verified_at=now_utc())


def link_patient(
    db: Engine,
    user_id: str,
    patient_id: str,
    relationship: str,
    related_person_id: str | None = None,
    *,
    conn: Connection | None = None,
) -> None:
    """Let ``user_id`` act for ``Patient/<patient_id>`` (idempotent).

    ``relationship`` is ``self`` (the user is the patient), ``guardian`` (a parent or carer,
    usually through ``RelatedPerson/<related_person_id>``) or ``care`` (a practitioner
    assigned to the patient). The Patient resource itself is not checked here: accounts and
    clinical data may be loaded in either order. With ``conn`` the link is written in the
    caller's transaction (so it commits with the Patient it links).
    """
    if relationship not in RELATIONSHIPS:
        raise IdentityError(
            "invalid_relationship",
            f"Unknown relationship {relationship!r}; use self, guardian or care.",
        )
    for value in (patient_id, related_person_id):
        if value is not None and not _FHIR_ID_RE.match(value):
            raise IdentityError("invalid_patient_id", f"{value!r} is not a valid FHIR id.")
    if conn is not None:
        _link(db, conn, user_id, patient_id, relationship, related_person_id)
        return
    with write_transaction(db) as own:
        _link(db, own, user_id, patient_id, relationship, related_person_id)


def _link(
    db: Engine,
    conn: Connection,
    user_id: str,
    patient_id: str,
    relationship: str,
    related_person_id: str | None,
) -> None:
    links = UserPatientRow.__table__
    if get_user(db, user_id, conn=conn) is None:
        raise IdentityError("unknown_user", f"No user with id {user_id}.")
    key = (
        (links.c.user_id == user_id)
        & (links.c.patient_id == patient_id)
        & (links.c.relationship == relationship)
    )
    if conn.execute(sa.select(links.c.user_id).where(key)).first() is not None:
        conn.execute(sa.update(links).where(key).values(related_person_id=related_person_id))
        return
    conn.execute(
        sa.insert(links).values(
            user_id=user_id,
            patient_id=patient_id,
            relationship=relationship,
            related_person_id=related_person_id,
            created_at=now_utc(),
        )
    )


def patients_of(db: Engine, user_id: str) -> list[tuple[str, str]]:
    """``(patient_id, relationship)`` for every patient the user may act for, in a stable
    order (self first, then by patient id)."""
    links = UserPatientRow.__table__
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(links.c.patient_id, links.c.relationship).where(links.c.user_id == user_id)
        ).all()
    order = {r: i for i, r in enumerate(RELATIONSHIPS)}
    return sorted(((r.patient_id, r.relationship) for r in rows), key=lambda p: (order[p[1]], p[0]))
