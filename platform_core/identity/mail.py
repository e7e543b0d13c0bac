"""Sending mail: one small adapter per ``settings.mail_url`` scheme.

* ``smtp://[user:password@]host:port``: plain SMTP through ``smtplib`` (a local relay or a
  test server); ``smtps://`` is the same over TLS. With a user name the mailer logs in.
* ``file:///some/dir``: each message is written as one ``.eml`` file in that folder.
* empty: ``file`` mode under ``<repo>/var/mail/`` (the embedded default, handy on a
  developer's machine: open the file to follow a link).

Files are written under a temporary name and renamed, so a reader never sees half a message.
Mailers raise :class:`MailError` when the message could not be handed over; callers decide
whether that matters (``IdentityServices.send`` logs it and carries on, so a mail outage
never reveals whether an address has an account).
"""

from __future__ import annotations

import base64
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email import quoprimime
from email.header import Header
from email.message import EmailMessage, Message
from email.policy import compat32
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from platform_core.config import REPO_ROOT

DEFAULT_MAIL_DIR = REPO_ROOT / "var" / "mail"
SMTP_TIMEOUT_S = 10.0
MAX_LINE = 78
"""Longest body line sent as it is (RFC 5322's recommended limit); longer bodies are
encoded."""


class MailError(Exception):
    """A message could not be handed to the mail system."""


class Mailer(Protocol):
    """Something that delivers an email message."""

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`MailError`."""
        ...


@dataclass(frozen=True)
class FileMailer:
    """Writes each message to ``<folder>/<time>-<random>.eml``."""

    folder: Path

    def send(self, message: Message) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{uuid.uuid1().hex}.eml"  # uuid1 starts with the time: files sort by age
            tmp = self.folder / f".{name}.tmp"
            tmp.write_bytes(message.as_bytes())
            tmp.rename(self.folder / name)
        except OSError as exc:
            raise MailError(f"cannot write mail to {self.folder}: {exc}") from exc


@dataclass(frozen=True)
class SmtpMailer:
    """Hands each message to an SMTP server, one connection per message (mail is rare)."""

    host: str
    port: int
    use_tls: bool = False
    username: str | None = None
    password: str | None = None

    def send(self, message: Message) -> None:
        try:
            if self.use_tls:
                context = ssl.create_default_context()
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=SMTP_TIMEOUT_S, context=context
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_S)
            with smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {exc}") from exc


def build_mailer(mail_url: str) -> Mailer:
    """The mailer for a ``mail_url`` setting; raises ValueError for an unknown scheme."""
    if not mail_url:
        return FileMailer(DEFAULT_MAIL_DIR)
    parts = urlsplit(mail_url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise ValueError(f"mail_url {mail_url!r}: use file:///absolute/folder")
        return FileMailer(Path(unquote(parts.path)))
    if parts.scheme in ("smtp", "smtps"):
        if not parts.hostname:
            raise ValueError(f"mail_url {mail_url!r}: no host")
        tls = parts.scheme == "smtps"
        return SmtpMailer(
            host=parts.hostname,
            port=parts.port or (465 if tls else 25),
            use_tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    raise ValueError(f"mail_url {mail_url!r}: use smtp://host:port, file:///folder or empty")


def compose(*, sender: str, to: str, subject: str, body: str) -> Message:
    """A plain-text UTF-8 message with the headers mail servers expect.

    Built with the ``compat32`` policy: a non-ASCII subject becomes RFC 2047 encoded words,
    the body is 7bit when it is ASCII in short lines, else quoted-printable or base64,
    whichever is shorter (as ``EmailMessage.set_content`` picks, except that short
    non-ASCII lines are not sent as 8bit: every message is 7-bit clean). That is several
    times cheaper than the default policy's header registry, which parses every header
    back into objects. Addresses that are not ASCII, and header values with a line break
    (refused with ValueError), take the default policy's way."""
    if not (sender.isascii() and to.isascii()) or any(
        "\r" in value or "\n" in value for value in (sender, to, subject)
    ):
        return _compose_with_header_registry(sender=sender, to=to, subject=subject, body=body)
    message = Message(policy=compat32)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = (
        subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject")
    )
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = _message_id(sender)
    message["Auto-Submitted"] = "auto-generated"
    encoding, payload = _encoded_body(body)
    message["Content-Type"] = 'text/plain; charset="utf-8"'
    message["Content-Transfer-Encoding"] = encoding
    message["MIME-Version"] = "1.0"
    message.set_payload(payload)
    return message


def _message_id(sender: str) -> str:
    return make_msgid(domain=sender.rpartition("@")[2].rstrip(">") or None)


def _encoded_body(body: str) -> tuple[str, str]:
    """``(Content-Transfer-Encoding, payload)`` of a UTF-8 text body, lines ending in ``\n``
    (the generator writes the mailer's line ends)."""
    lines = body.encode("utf-8").splitlines()  # \n, \r\n or \r, as set_content splits
    raw = b"\n".join(lines) + b"\n"
    if raw.isascii() and max(map(len, lines), default=0) <= MAX_LINE:
        return "7bit", raw.decode("ascii")
    quoted = quoprimime.body_encode(raw.decode("latin-1"), MAX_LINE)
    encoded = base64.encodebytes(raw).decode("ascii")
    if len(quoted) <= len(encoded):
        return "quoted-printable", quoted
    return "base64", encoded


def _compose_with_header_registry(*, sender: str, to: str, subject: str, body: str) -> Message:
    """:func:`compose` through the default policy, for what its fast way does not cover."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = _message_id(sender)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    return message
