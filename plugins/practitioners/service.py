"""The application workflow: a doctor's profile, their credential documents, and the
admin's decisions.

Every change is one database transaction that writes the FHIR resources, this plugin's rows,
the account's own state (``auth_user.verified_at`` and ``status``, changed through the core's
helpers with ``conn=``) and the domain event together, so a refused or failed request writes
nothing, and the account and the application never disagree.

State machine (anything else is a 409 naming the current status)::

    (none) --POST /profile--> pending --verify--> verified --suspend--> suspended
                                 |  ^                 ^                     |
                          reject |  | PUT /profile    +------reinstate------+
                                 v  |
                               rejected
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from platform_core.fhir.context import RequestContext
from platform_core.fhir.errors import FhirError
from platform_core.fhir.instants import format_instant, now_utc
from platform_core.identity.users import get_user, set_fhir_user, set_status, verify_practitioner
from platform_core.web.api import Problem
from plugins.practitioners import documents as docs
from plugins.practitioners.profile import ProfileInput, practitioner_resource, role_resource
from plugins.practitioners.schema import (
    PENDING,
    REJECTED,
    SUSPENDED,
    VERIFIED,
    application_table,
    document_table,
    specialty_table,
)

APP = application_table
DOCS = document_table
SPECIALTIES = specialty_table

VERIFIED_EVENT = "practitioner.verified"
REJECTED_EVENT = "practitioner.rejected"
SUSPENDED_EVENT = "practitioner.suspended"


@dataclass(frozen=True)
class Stored:
    """A document's bytes as stored."""

    document: Row[Any]
    application: Row[Any]
    data: bytes
    content_type: str


def _system(practitioner_id: str) -> RequestContext:
    """FHIR writes on behalf of the practitioner's own record (no Provenance: internal)."""
    return RequestContext.system(actor=f"Practitioner/{practitioner_id}")


def _conflict(detail: str, **extra: Any) -> Problem:
    return Problem(409, detail, title="Conflict", **extra)


def _no_profile() -> Problem:
    return Problem(
        404,
        "You have no practitioner profile yet: create it with POST /api/practitioners/profile",
        title="Not Found",
    )


def _unknown(practitioner_id: str) -> Problem:
    return Problem(404, f"No application for Practitioner/{practitioner_id}", title="Not Found")


# --- reading ---------------------------------------------------------------------------


def own_application(core: Any, user_id: str, conn: Connection | None = None) -> Row[Any] | None:
    """The application of the account ``user_id``, or None."""
    query = sa.select(APP).where(APP.c.user_id == user_id)
    if conn is not None:
        return conn.execute(query).first()
    with core.db.connect() as own:
        return own.execute(query).first()


def application(core: Any, practitioner_id: str) -> Row[Any] | None:
    """The application of ``Practitioner/<practitioner_id>``, or None."""
    with core.db.connect() as conn:
        return conn.execute(sa.select(APP).where(APP.c.practitioner_id == practitioner_id)).first()


def list_applications(
    core: Any, status: str | None, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    """Applications oldest submission first (the review queue), and how many there are."""
    where = [APP.c.status == status] if status else []
    with core.db.connect() as conn:
        rows = conn.execute(
            sa.select(APP)
            .where(*where)
            .order_by(APP.c.submitted_at, APP.c.practitioner_id)
            .limit(limit)
            .offset(offset)
        ).all()
        total = conn.execute(sa.select(sa.func.count()).select_from(APP).where(*where)).scalar_one()
    return list(rows), int(total)


def documents_of(core: Any, practitioner_id: str) -> list[Row[Any]]:
    """The practitioner's documents, oldest first."""
    with core.db.connect() as conn:
        return list(
            conn.execute(
                sa.select(DOCS)
                .where(DOCS.c.practitioner_id == practitioner_id)
                .order_by(DOCS.c.created_at, DOCS.c.id)
            ).all()
        )


def resources_of(core: Any, row: Row[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The current Practitioner and PractitionerRole of an application."""
    ctx = _system(row.practitioner_id)
    practitioner = core.repository.read(ctx, "Practitioner", row.practitioner_id).resource()
    role = core.repository.read(ctx, "PractitionerRole", row.practitioner_role_id).resource()
    return practitioner, role


def application_json(row: Row[Any], *, for_admin: bool) -> dict[str, Any]:
    """An application as the API shows it (admins also see who decided)."""
    out: dict[str, Any] = {
        "practitioner": row.practitioner_id,
        "practitioner_role": row.practitioner_role_id,
        "status": row.status,
        "reason": row.reason,
        "name": row.display_name,
        "licence": {
            "country": row.licence_country,
            "number": row.licence_number,
            "expires": row.licence_expires.isoformat(),
        },
        "submitted_at": format_instant(row.submitted_at),
        "decided_at": _instant(row.decided_at),
    }
    if for_admin:
        out["user_id"] = row.user_id
        out["decided_by"] = row.decided_by
    return out


def document_json(row: Row[Any]) -> dict[str, Any]:
    """A document as listed (the bytes are at ``content_url``)."""
    return {
        "id": row.id,
        "type": row.type,
        "title": row.title,
        "content_type": row.content_type,
        "size": row.size,
        "created_at": format_instant(row.created_at),
        "content_url": f"/api/practitioners/documents/{row.id}/content",
    }


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


# --- the practitioner's own profile ----------------------------------------------------


def _licence_taken(
    core: Any, conn: Connection, profile: ProfileInput, practitioner_id: str | None
) -> bool:
    """Whether another practitioner holds this licence: an application here, or a
    Practitioner written elsewhere (FHIR REST, an import) with the same identifier."""
    licence = profile.licence
    clash = conn.execute(
        sa.select(APP.c.practitioner_id).where(
            APP.c.licence_country == licence.country,
            APP.c.licence_key == licence.key,
            APP.c.practitioner_id != (practitioner_id or ""),
        )
    ).first()
    if clash is not None:
        return True
    query = urlencode({"identifier": f"{licence.system}|{licence.number}"})
    found = core.repository.find(RequestContext.system(), "Practitioner", query, conn=conn)
    return any(stored.id != practitioner_id for stored in found)


def _licence_conflict(profile: ProfileInput) -> Problem:
    licence = profile.licence
    return _conflict(
        f"Another practitioner is registered with licence {licence.number} "
        f"({licence.country}); if it is yours, contact an administrator"
    )


def _profile_columns(profile: ProfileInput) -> dict[str, Any]:
    return {
        "licence_country": profile.licence.country,
        "licence_number": profile.licence.number,
        "licence_key": profile.licence.key,
        "licence_expires": profile.licence.expires,
        "display_name": profile.display_name,
        "search_name": profile.search_name,
        "sort_name": profile.sort_name,
    }


def _write_specialties(conn: Connection, practitioner_id: str, profile: ProfileInput) -> None:
    conn.execute(sa.delete(SPECIALTIES).where(SPECIALTIES.c.practitioner_id == practitioner_id))
    conn.execute(
        sa.insert(SPECIALTIES),
        [{"practitioner_id": practitioner_id, "code": s.code} for s in profile.specialties],
    )


def create_profile(core: Any, user_id: str, profile: ProfileInput) -> Row[Any]:
    """Create the Practitioner, its PractitionerRole, the account link and a ``pending``
    application, all in one transaction; 409 when the account has a profile or the licence
    is taken (a unique constraint decides between two concurrent sign-ups)."""
    practitioner_id = str(uuid.uuid4())
    ctx = _system(practitioner_id)
    try:
        with core.repository.transaction() as conn:
            if own_application(core, user_id, conn) is not None:
                raise _conflict("You already have a profile: change it with PUT /profile")
            account = get_user(core.db, user_id, conn=conn)
            if account is None:  # pragma: no cover - the token's user exists
                raise Problem(401, "The token's account is gone")
            if account.fhir_user is not None:
                raise _conflict(
                    f"Your account is already linked to {account.fhir_user}; "
                    "ask an administrator to change it"
                )
            if _licence_taken(core, conn, profile, None):
                raise _licence_conflict(profile)
            core.repository.create(
                ctx, conn, practitioner_resource(profile, active=False), resource_id=practitioner_id
            )
            role = core.repository.create(
                ctx, conn, role_resource(profile, practitioner_id, active=False)
            )
            now = now_utc()
            conn.execute(
                sa.insert(APP).values(
                    practitioner_id=practitioner_id,
                    practitioner_role_id=role.id,
                    user_id=user_id,
                    status=PENDING,
                    reason=None,
                    decided_by=None,
                    decided_at=None,
                    submitted_at=now,
                    created_at=now,
                    updated_at=now,
                    **_profile_columns(profile),
                )
            )
            _write_specialties(conn, practitioner_id, profile)
            set_fhir_user(core.db, user_id, f"Practitioner/{practitioner_id}", conn=conn)
    except IntegrityError:
        # A concurrent request committed first: the same account, or the same licence.
        if own_application(core, user_id) is not None:
            raise _conflict("You already have a profile: change it with PUT /profile") from None
        raise _licence_conflict(profile) from None
    row = own_application(core, user_id)
    assert row is not None
    return row


def update_profile(core: Any, user_id: str, profile: ProfileInput) -> Row[Any]:
    """Replace the details of a ``pending`` or ``rejected`` application; a rejected one
    goes back to ``pending`` (a re-application). 409 once verified or suspended."""
    try:
        with core.repository.transaction() as conn:
            row = conn.execute(
                sa.select(APP).where(APP.c.user_id == user_id).with_for_update()
            ).first()
            if row is None:
                raise _no_profile()
            if row.status == VERIFIED:
                raise _conflict(
                    "Your profile is verified: changing verified details needs an "
                    "administrator, who checks them again",
                    current_status=row.status,
                )
            if row.status == SUSPENDED:
                raise _conflict(
                    "Your account is suspended: contact an administrator", current_status=row.status
                )
            pid = row.practitioner_id
            if _licence_taken(core, conn, profile, pid):
                raise _licence_conflict(profile)
            ctx = _system(pid)
            core.repository.update(
                ctx, conn, "Practitioner", pid, practitioner_resource(profile, active=False)
            )
            core.repository.update(
                ctx,
                conn,
                "PractitionerRole",
                row.practitioner_role_id,
                role_resource(profile, pid, active=False),
            )
            now = now_utc()
            values: dict[str, Any] = {"updated_at": now, **_profile_columns(profile)}
            if row.status == REJECTED:
                values |= {
                    "status": PENDING,
                    "reason": None,
                    "decided_by": None,
                    "decided_at": None,
                    "submitted_at": now,
                }
            conn.execute(sa.update(APP).where(APP.c.practitioner_id == pid).values(**values))
            _write_specialties(conn, pid, profile)
    except IntegrityError:
        raise _licence_conflict(profile) from None
    updated = own_application(core, user_id)
    assert updated is not None
    return updated


# --- documents -------------------------------------------------------------------------


def add_document(
    core: Any, user_id: str, kind: str, filename: str | None, data: bytes, content_type: str
) -> Row[Any]:
    """Store an upload as a Binary and a DocumentReference; only before verification or
    while rejected."""
    with core.repository.transaction() as conn:
        row = conn.execute(sa.select(APP).where(APP.c.user_id == user_id).with_for_update()).first()
        if row is None:
            raise _conflict(
                "Create your profile first (POST /api/practitioners/profile), then add documents"
            )
        if row.status not in (PENDING, REJECTED):
            raise _conflict(
                f"Your application is {row.status}: documents are added before verification "
                "or while rejected; ask an administrator",
                current_status=row.status,
            )
        pid = row.practitioner_id
        ctx = _system(pid)
        # The DocumentReference first: the Binary names it as its securityContext.
        binary_id = str(uuid.uuid4())
        title = docs.safe_title(filename, content_type)
        reference = core.repository.create(
            ctx,
            conn,
            docs.document_reference(
                practitioner_id=pid,
                binary_id=binary_id,
                kind=kind,
                content_type=content_type,
                data=data,
                title=title,
            ),
        )
        binary = core.repository.create(
            ctx,
            conn,
            docs.binary_resource(data, content_type, reference.id),
            resource_id=binary_id,
        )
        conn.execute(
            sa.insert(DOCS).values(
                id=reference.id,
                practitioner_id=pid,
                binary_id=binary.id,
                type=kind,
                title=title,
                content_type=content_type,
                size=len(data),
                created_at=now_utc(),
            )
        )
        stored = conn.execute(sa.select(DOCS).where(DOCS.c.id == reference.id)).one()
    return stored


def document_content(core: Any, document_id: str) -> Stored | None:
    """A document, its application and its bytes; None when unknown or gone."""
    with core.db.connect() as conn:
        found = conn.execute(
            sa.select(DOCS, APP.c.user_id)
            .join(APP, APP.c.practitioner_id == DOCS.c.practitioner_id)
            .where(DOCS.c.id == document_id)
        ).first()
        if found is None:
            return None
        app_row = conn.execute(
            sa.select(APP).where(APP.c.practitioner_id == found.practitioner_id)
        ).one()
    try:
        binary = core.repository.read(
            _system(found.practitioner_id), "Binary", found.binary_id
        ).resource()
    except FhirError:
        return None  # deleted over FHIR REST since
    data = base64.b64decode(binary.get("data", ""))
    return Stored(found, app_row, data, binary.get("contentType", found.content_type))


# --- decisions -------------------------------------------------------------------------


def _locked(conn: Connection, practitioner_id: str) -> Row[Any]:
    row = conn.execute(
        sa.select(APP).where(APP.c.practitioner_id == practitioner_id).with_for_update()
    ).first()
    if row is None:
        raise _unknown(practitioner_id)
    return row


def _expect(row: Row[Any], wanted: str, verb: str) -> None:
    if row.status != wanted:
        raise _conflict(
            f"Practitioner/{row.practitioner_id}'s application is {row.status}: only a "
            f"{wanted} application can be {verb}",
            current_status=row.status,
        )


def _set_active(
    core: Any, conn: Connection, row: Row[Any], *, practitioner: bool | None, role: bool
) -> None:
    """Set ``active`` on the PractitionerRole (and on the Practitioner unless None)."""
    ctx = _system(row.practitioner_id)
    targets = [("PractitionerRole", row.practitioner_role_id, role)]
    if practitioner is not None:
        targets.insert(0, ("Practitioner", row.practitioner_id, practitioner))
    for resource_type, resource_id, active in targets:
        resource = core.repository.read(ctx, resource_type, resource_id, conn=conn).resource()
        if resource.get("active") is active:
            continue
        resource["active"] = active
        resource.pop("meta", None)
        core.repository.update(ctx, conn, resource_type, resource_id, resource)


def _decide(
    conn: Connection, row: Row[Any], status: str, reason: str | None, decided_by: str
) -> None:
    now = now_utc()
    conn.execute(
        sa.update(APP)
        .where(APP.c.practitioner_id == row.practitioner_id)
        .values(status=status, reason=reason, decided_by=decided_by, decided_at=now, updated_at=now)
    )


def _practitioner_account(core: Any, conn: Connection, row: Row[Any]) -> Any:
    account = get_user(core.db, row.user_id, conn=conn)
    if account is None or account.role != "practitioner":
        raise _conflict(
            f"The account of Practitioner/{row.practitioner_id} is gone or no longer a "
            "practitioner's"
        )
    return account


def verify(core: Any, practitioner_id: str, decided_by: str) -> Row[Any]:
    """pending -> verified: the account verified, Practitioner and role active,
    ``practitioner.verified`` published, all in one transaction. Verifying a ``verified``
    application whose account is not verified (left so by an earlier version, which changed
    the account separately) verifies the account."""
    with core.repository.transaction() as conn:
        row = _locked(conn, practitioner_id)
        account = _practitioner_account(core, conn, row)
        if row.status == VERIFIED and account.verified_at is None:
            verify_practitioner(core.db, row.user_id, conn=conn)
        else:
            _expect(row, PENDING, "verified")
            verify_practitioner(core.db, row.user_id, conn=conn)
            _set_active(core, conn, row, practitioner=True, role=True)
            _decide(conn, row, VERIFIED, None, decided_by)
            core.jobs.publish(
                conn, VERIFIED_EVENT, {"practitioner": practitioner_id, "user_id": row.user_id}
            )
    return _reloaded(core, practitioner_id)


def reject(core: Any, practitioner_id: str, decided_by: str, reason: str) -> Row[Any]:
    """pending -> rejected, with the reason; ``practitioner.rejected`` published."""
    with core.repository.transaction() as conn:
        row = _locked(conn, practitioner_id)
        _expect(row, PENDING, "rejected")
        _decide(conn, row, REJECTED, reason, decided_by)
        core.jobs.publish(
            conn,
            REJECTED_EVENT,
            {"practitioner": practitioner_id, "user_id": row.user_id, "reason": reason},
        )
    return _reloaded(core, practitioner_id)


def suspend(core: Any, practitioner_id: str, decided_by: str, reason: str) -> Row[Any]:
    """verified -> suspended: the account suspended (its tokens stop with the commit), the
    role inactive, ``practitioner.suspended`` published, all in one transaction."""
    with core.repository.transaction() as conn:
        row = _locked(conn, practitioner_id)
        _expect(row, VERIFIED, "suspended")
        _practitioner_account(core, conn, row)
        set_status(core.db, row.user_id, "suspended", conn=conn)
        _set_active(core, conn, row, practitioner=None, role=False)
        _decide(conn, row, SUSPENDED, reason, decided_by)
        core.jobs.publish(
            conn,
            SUSPENDED_EVENT,
            {"practitioner": practitioner_id, "user_id": row.user_id, "reason": reason},
        )
    return _reloaded(core, practitioner_id)


def reinstate(core: Any, practitioner_id: str, decided_by: str) -> Row[Any]:
    """suspended -> verified: the role and the account active again, in one transaction.
    Reinstating a ``verified`` application whose account is suspended (through the core's
    admin API, or by an earlier version of this plugin) reactivates the account."""
    with core.repository.transaction() as conn:
        row = _locked(conn, practitioner_id)
        account = _practitioner_account(core, conn, row)
        if row.status == VERIFIED and account.status == "suspended":
            set_status(core.db, row.user_id, "active", conn=conn)
        else:
            _expect(row, SUSPENDED, "reinstated")
            if account.status == "suspended":
                set_status(core.db, row.user_id, "active", conn=conn)
            _set_active(core, conn, row, practitioner=None, role=True)
            _decide(conn, row, VERIFIED, None, decided_by)
    return _reloaded(core, practitioner_id)


def _reloaded(core: Any, practitioner_id: str) -> Row[Any]:
    row = application(core, practitioner_id)
    assert row is not None
    return row
