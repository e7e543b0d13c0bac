"""Per-app state of the identity module, kept in ``app.extensions["fireside.identity"]``."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from platform_core.config import Settings
from platform_core.identity.mail import Mailer, MailError, build_mailer, compose

log = logging.getLogger(__name__)


@dataclass
class IdentityServices:
    """The settings and the mailer the identity flows need (the mailer is replaceable:
    tests point it at a folder of their own)."""

    settings: Settings
    mailer: Mailer

    @classmethod
    def build(cls, settings: Settings) -> IdentityServices:
        return cls(settings, build_mailer(settings.mail_url))

    @property
    def sender(self) -> str:
        """The ``From`` address: ``no-reply@<host of base_url>``."""
        host = urlsplit(self.settings.base_url).hostname or "localhost"
        return f"Fireside <no-reply@{host}>"

    def send(self, to: str, message: tuple[str, str]) -> bool:
        """Send ``(subject, body)`` to ``to``; False (and a logged error) when the mail system
        refused it. Never raises: a page must answer the same whether or not mail works."""
        subject, body = message
        try:
            self.mailer.send(compose(sender=self.sender, to=to, subject=subject, body=body))
        except MailError as exc:
            log.error("mail not sent: %s", exc)
            return False
        return True
