"""``manage.py create-user`` and ``link-patient`` (through their module's parser and run)."""

from __future__ import annotations

import argparse
import io
import json
from dataclasses import replace

import pytest

from platform_core.cli import user_command
from platform_core.identity import passwords
from platform_core.identity.users import find_user_by_email, patients_of
from tests.identity.conftest import PASSWORD, Outbox, user_row


@pytest.fixture
def cli(app):
    """Run a user command against the test database; returns (status, stdout, stderr)."""
    settings = app.extensions["fireside"].settings
    parser = argparse.ArgumentParser(prog="manage.py")
    user_command.add_parser(parser.add_subparsers(dest="command", required=True))

    def run(argv: list[str], stdin: str = "", **overrides: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = user_command.run(
            parser.parse_args(argv),
            settings=replace(settings, **overrides),
            stdin=io.StringIO(stdin),
            stdout=out,
            stderr=err,
        )
        return status, out.getvalue(), err.getvalue()

    return run


def test_create_user_reads_the_password_from_stdin(cli, db):
    status, out, err = cli(
        [
            "create-user",
            "--email",
            "Doc@Example.org",
            "--role",
            "practitioner",
            "--password-stdin",
            "--fhir-user",
            "Practitioner/7",
        ],
        stdin=PASSWORD + "\n",
    )
    assert (status, err) == (0, "")
    summary = json.loads(out)
    assert summary["email"] == "doc@example.org" and summary["invited"] is False
    user = find_user_by_email(db, "doc@example.org")
    assert user.fhir_user == "Practitioner/7" and user.status == "active"
    assert passwords.verify_password(user_row(db, user.id).password_hash, PASSWORD)


def test_create_user_without_password_invites_by_mail(cli, db, tmp_path):
    mail_url = f"file://{tmp_path / 'cli-mail'}"
    status, out, _ = cli(
        ["create-user", "--email", "p@example.org", "--role", "pharmacist"], mail_url=mail_url
    )
    assert status == 0 and json.loads(out)["invited"] is True
    assert Outbox(tmp_path / "cli-mail").last_link("p@example.org", "reset")
    assert user_row(db, find_user_by_email(db, "p@example.org").id).password_hash is None


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--email", "x@example.org", "--password-stdin"], "short\n", "at least 10"),
        (["--email", "not-an-email", "--password-stdin"], PASSWORD, "email address"),
        (
            ["--email", "x@example.org", "--fhir-user", "Nope/1", "--password-stdin"],
            PASSWORD,
            "fhir_user",
        ),
    ],
)
def test_create_user_refusals_write_nothing(cli, counts, argv, stdin, message):
    before = counts()
    status, out, err = cli(["create-user", "--role", "patient", *argv], stdin=stdin)
    assert status == 1 and out == ""
    assert err.startswith("create-user: ") and message in err
    assert counts() == before


def test_create_user_refuses_a_taken_email(cli, make_user, counts):
    make_user(email="x@example.org")
    before = counts()
    status, _, err = cli(
        ["create-user", "--email", "X@example.org", "--role", "patient", "--password-stdin"],
        stdin=PASSWORD,
    )
    assert status == 1 and "email address exists" in err
    assert counts() == before


def test_unknown_role_is_an_argument_error(cli):
    with pytest.raises(SystemExit):
        cli(["create-user", "--email", "x@example.org", "--role", "boss"])


def test_link_patient(cli, db, make_user):
    parent = make_user(email="mum@example.org", role="guardian")
    status, out, _ = cli(
        [
            "link-patient",
            "--email",
            "mum@example.org",
            "--patient",
            "Patient/kid-1",
            "--relationship",
            "guardian",
            "--related-person",
            "RelatedPerson/3",
        ]
    )
    assert status == 0
    assert json.loads(out)["patients"] == [{"patient": "Patient/kid-1", "relationship": "guardian"}]
    assert patients_of(db, parent.id) == [("kid-1", "guardian")]


def test_link_patient_refusals_write_nothing(cli, make_user, counts):
    make_user(email="mum@example.org")
    before = counts()
    status, _, err = cli(
        [
            "link-patient",
            "--email",
            "nobody@example.org",
            "--patient",
            "1",
            "--relationship",
            "self",
        ]
    )
    assert status == 1 and "No user" in err
    status, _, err = cli(
        [
            "link-patient",
            "--email",
            "mum@example.org",
            "--patient",
            "bad id",
            "--relationship",
            "self",
        ]
    )
    assert status == 1 and "not a valid FHIR id" in err
    assert counts() == before


def test_commands_are_listed():
    assert user_command.COMMANDS == ("create-user", "link-patient")
