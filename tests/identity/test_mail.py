"""Mail adapters: folder outbox, SMTP (through a real local server), and the URL setting."""

from __future__ import annotations

import email
import email.policy
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from platform_core.config import load_settings
from platform_core.fhir.instants import now_utc
from platform_core.identity.mail import (
    DEFAULT_MAIL_DIR,
    FileMailer,
    MailError,
    SmtpMailer,
    build_mailer,
    compose,
)
from platform_core.identity.services import IdentityServices


def _message(to: str = "ada@example.org"):
    return compose(sender="Fireside <no-reply@testserver>", to=to, subject="Hi", body="Hello\n")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", FileMailer(DEFAULT_MAIL_DIR)),
        ("file:///tmp/fireside-mail", FileMailer(Path("/tmp/fireside-mail"))),
        ("smtp://mail.local:2525", SmtpMailer("mail.local", 2525)),
        ("smtp://relay", SmtpMailer("relay", 25)),
        ("smtps://u%40x:p%2Fw@relay:465", SmtpMailer("relay", 465, True, "u@x", "p/w")),
    ],
)
def test_build_mailer_from_the_setting(url, expected):
    assert build_mailer(url) == expected


@pytest.mark.parametrize("url", ["http://x", "file://host/dir", "smtp://", "mailto:a@b"])
def test_unknown_mail_urls_are_refused_at_startup(url):
    with pytest.raises(ValueError):
        build_mailer(url)


def test_file_mailer_writes_one_eml_per_message(tmp_path):
    mailer = FileMailer(tmp_path / "out")
    mailer.send(_message("a@example.org"))
    mailer.send(_message("b@example.org"))
    files = sorted((tmp_path / "out").glob("*.eml"))
    assert len(files) == 2 and not list((tmp_path / "out").glob(".*"))
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    assert [m["To"] for m in parsed] == ["a@example.org", "b@example.org"]
    assert parsed[0]["Message-ID"] and parsed[0]["Date"]


def test_file_mailer_failure_is_a_mail_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MailError):
        FileMailer(blocker / "sub").send(_message())


def test_smtp_mailer_delivers_to_a_real_server():
    received: list = []

    class Handler(Message):
        def handle_message(self, message):
            received.append(message)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = load_settings({"mail_url": f"smtp://127.0.0.1:{port}", "base_url": "https://h"})
        services = IdentityServices.build(settings)
        assert services.send("ada@example.org", ("Subject line", "Body text\n"))
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        controller.stop()
    [message] = received
    assert message["To"] == "ada@example.org"
    assert message["From"] == "Fireside <no-reply@h>"
    assert message["Subject"] == "Subject line"
    assert "Body text" in message.get_payload()


def test_smtp_outage_is_logged_not_raised(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    services = IdentityServices(load_settings({}), SmtpMailer("127.0.0.1", port))
    assert services.send("ada@example.org", ("s", "b")) is False
    assert "mail not sent" in caplog.text


def test_app_mail_goes_through_the_outbox_and_is_retried(app, tmp_path):
    """In an app, a message is a ``mail.send`` job: a mail system that refuses it makes the
    job retry, and the message arrives once the mail system is back."""
    from platform_core.identity.mail import MailError

    core = app.extensions["fireside"]
    services = app.extensions["fireside.identity"]
    previous = core.mailer
    sent: list[str] = []

    class Flaky:
        down = True

        def send(self, message):
            if self.down:
                raise MailError("connection refused")
            sent.append(message["To"])

    flaky = Flaky()
    services.mailer = flaky
    try:
        assert services.send("ada@example.org", ("s", "b")) is True
        [job] = core.jobs.find(state="pending")
        assert job.name == "mail.send" and job.attempts == 1 and "MailError" in job.last_error
        assert sent == []
        flaky.down = False
        assert core.jobs.run(job.id) in {"done", "skipped"}
        if not sent:  # the retry was not due yet: run it as the sweeper would, once due
            with core.db.begin() as conn:
                conn.execute(
                    sa.text("UPDATE job_outbox SET available_at = :now WHERE id = :id"),
                    {"now": now_utc(), "id": job.id},
                )
            assert core.jobs.run(job.id) == "done"
        assert sent == ["ada@example.org"]
    finally:
        core.mailer = previous


@pytest.mark.parametrize(
    ("subject", "body", "encoding"),
    [
        ("Rendez-vous confirmé", "Bonjour Zoë,\r\nà demain 09:00\u2028(heure de Lagos)\n", None),
        ("Plain", "short ascii\nlines only\n", "7bit"),
        ("Long", "x" * 200 + "\n", "quoted-printable"),
        ("Cyrillic", "Здравствуйте, " * 20 + "\n", "base64"),
    ],
)
def test_composed_messages_read_back_as_written(subject, body, encoding):
    """Whatever encoding the body gets, a mail reader gets back the subject and the text
    (line ends normalised to one ``\\n``; a Unicode line separator is text, not a break)."""
    message = compose(
        sender="Fireside <no-reply@example.org>", to="a@example.org", subject=subject, body=body
    )
    raw = message.as_bytes()
    assert raw.isascii()  # 7-bit clean: no server needs 8BITMIME
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == subject
    assert parsed.get_content() == body.replace("\r\n", "\n")
    if encoding is not None:
        assert parsed["Content-Transfer-Encoding"] == encoding
