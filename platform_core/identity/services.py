"""Per-app state of the identity module, kept in ``app.extensions["fireside.identity"]``."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from platform_core.config import Settings
from platform_core.db.engine import write_transaction
from platform_core.identity.mail import Mailer, MailError, build_mailer, compose
from platform_core.identity.throttle import Throttle, mail_address_rule
from platform_core.identity.users import normalize_email

log = logging.getLogger(__name__)


MAIL_JOB = "mail.send"
"""The job that hands one message to the mail system (``core.mail``), with retries."""


class IdentityServices:
    """The settings and the mailer the identity flows need.

    In an app (``core`` given) mail goes through the jobs outbox: the message is a
    ``mail.send`` job, sent after the commit (in the web process, or by a worker when a broker
    is configured) and retried with backoff while the mail system refuses it; the mailer is
    the core's (tests point it at a folder of their own). Without a core (a CLI command, a
    test of the mailer) messages are sent at once."""

    def __init__(self, settings: Settings, mailer: Mailer | None = None, core: Any = None):
        self.settings = settings
        self._core = core
        self._mailer = mailer or (None if core is not None else build_mailer(settings.mail_url))
        self.throttle = Throttle(core.db) if core is not None else None
        """Rate limits shared by every process (None without a database: CLI mail tests)."""

    @classmethod
    def build(cls, settings: Settings) -> IdentityServices:
        return cls(settings, build_mailer(settings.mail_url))

    @property
    def mailer(self) -> Mailer:
        """The mailer messages end up in."""
        if self._core is not None:
            return self._core.mailer  # type: ignore[no-any-return]
        assert self._mailer is not None
        return self._mailer

    @mailer.setter
    def mailer(self, value: Mailer) -> None:
        if self._core is not None:
            self._core.mailer = value
        else:
            self._mailer = value

    @property
    def sender(self) -> str:
        """The ``From`` address: ``no-reply@<host of base_url>``."""
        return sender_for(self.settings)

    def may_mail_unsolicited(self, to: str) -> bool:
        """Count one mail that anyone could cause by typing ``to`` (a confirmation link, a
        reset link, the "already registered" notice) and say whether it may go: False past
        ``mail_address_max``. The caller then sends nothing, changes nothing (an older link
        keeps working) and answers as usual."""
        if self.throttle is None:
            return True
        if self.throttle.take(mail_address_rule(self.settings), normalize_email(to)) is None:
            return True
        log.warning("identity mail not sent: over mail_address_max for one address")
        return False

    def send(self, to: str, message: tuple[str, str]) -> bool:
        """Send ``(subject, body)`` to ``to``. Never raises: a page must answer the same
        whether or not mail works. In an app the message is queued (True once it is in the
        outbox); without one it is sent now (False, and a logged error, when the mail system
        refused it)."""
        subject, body = message
        if self._core is not None:
            with write_transaction(self._core.db) as conn:
                payload = {"from": self.sender, "to": to, "subject": subject, "body": body}
                self._core.jobs.enqueue(conn, MAIL_JOB, payload)
            return True
        try:
            self.mailer.send(compose(sender=self.sender, to=to, subject=subject, body=body))
        except MailError as exc:
            log.error("mail not sent: %s", exc)
            return False
        return True


def sender_for(settings: Settings) -> str:
    """The ``From`` address of Fireside's mail: ``no-reply@<host of base_url>``."""
    host = urlsplit(settings.base_url).hostname or "localhost"
    return f"Fireside <no-reply@{host}>"
