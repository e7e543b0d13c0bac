"""``manage.py create-user`` and ``manage.py link-patient``: accounts from the command line.

``create-user --email E --role R [--password-stdin] [--fhir-user Patient/12]`` creates an
active account whose address counts as verified (the operator vouches for it). The password
is read from standard input (first line), never from the command line, where it would land
in the shell history and the process list. Without ``--password-stdin`` the account has no
password and the new user is mailed a link to choose one.

``link-patient --email E --patient 12 --relationship self|guardian|care [--related-person 3]``
lets a user act for a patient.

Both print one JSON line on success and a ``create-user: <message>`` line on stderr with exit
status 1 on a refusal (weak password, duplicate email...).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from sqlalchemy.engine import Engine

from platform_core.auth.schema import ROLES
from platform_core.config import Settings, load_settings
from platform_core.db.engine import create_engine
from platform_core.identity import accounts
from platform_core.identity.errors import IdentityError
from platform_core.identity.services import IdentityServices
from platform_core.identity.users import (
    RELATIONSHIPS,
    create_user,
    find_user_by_email,
    link_patient,
    patients_of,
)

COMMANDS = ("create-user", "link-patient")
"""The ``manage.py`` commands this module implements; :func:`run` dispatches on them."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``create-user`` and ``link-patient`` to ``manage.py``'s sub-commands."""
    create = subparsers.add_parser("create-user", help="create a user account")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    create.add_argument("--fhir-user", help="the user's own resource, e.g. Patient/12")

    link = subparsers.add_parser("link-patient", help="let a user act for a patient")
    link.add_argument("--email", required=True, help="the user's email address")
    link.add_argument("--patient", required=True, help="the Patient id (or Patient/<id>)")
    link.add_argument("--relationship", required=True, choices=RELATIONSHIPS)
    link.add_argument("--related-person", help="the guardian's RelatedPerson id")


def run(
    args: argparse.Namespace,
    *,
    settings: Settings | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run ``args.command``; returns the exit status (0 done, 1 refused)."""
    settings = settings or load_settings()
    out, err = stdout or sys.stdout, stderr or sys.stderr
    db = create_engine(settings)
    try:
        if args.command == "create-user":
            return _create_user(args, settings, db, stdin or sys.stdin, out)
        if args.command == "link-patient":
            return _link_patient(args, db, out)
        raise ValueError(f"not a user command: {args.command}")
    except IdentityError as exc:
        print(f"{args.command}: {exc.message}", file=err)
        return 1
    finally:
        db.dispose()


def _create_user(
    args: argparse.Namespace, settings: Settings, db: Engine, stdin: TextIO, out: TextIO
) -> int:
    password: str | None = None
    if args.password_stdin:
        password = stdin.readline().rstrip("\r\n")
    user = create_user(
        db, email=args.email, password=password, role=args.role, fhir_user=args.fhir_user
    )
    invited = False
    if password is None:
        accounts.invite(db, IdentityServices.build(settings), user)
        invited = True
    summary = {"id": user.id, "email": user.email, "role": user.role, "invited": invited}
    print(json.dumps(summary), file=out)
    return 0


def _link_patient(args: argparse.Namespace, db: Engine, out: TextIO) -> int:
    user = find_user_by_email(db, args.email)
    if user is None:
        raise IdentityError("unknown_user", f"No user with email {args.email}.")
    patient = args.patient.removeprefix("Patient/")
    related = args.related_person.removeprefix("RelatedPerson/") if args.related_person else None
    link_patient(db, user.id, patient, args.relationship, related)
    patients = [{"patient": f"Patient/{p}", "relationship": r} for p, r in patients_of(db, user.id)]
    print(json.dumps({"id": user.id, "email": user.email, "patients": patients}), file=out)
    return 0
