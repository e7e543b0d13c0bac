"""Mail through the jobs outbox: the ``mail.send`` job hands one message to the process's
mailer (``core.mailer``, from ``mail_url``). A mail system that refuses the message makes the
job fail, so it is retried with backoff and, after the last attempt, kept as failed where an
operator can see and retry it (``python manage.py jobs list --state failed``). The job holds
no database transaction while it talks to the mail server (``transactional=False``), so a
slow server never keeps other writers waiting (on SQLite, the one write lock)."""

from __future__ import annotations

from platform_core import hookimpl
from platform_core.identity.mail import compose
from platform_core.identity.services import MAIL_JOB
from platform_core.jobs.definitions import JobContext, JobDefinition


def send(ctx: JobContext) -> None:
    """Hand the message to the mail system (at-least-once: a crash right after the hand-over
    may send it twice, which mail tolerates)."""
    message = ctx.payload
    ctx.core.mailer.send(
        compose(
            sender=message["from"],
            to=message["to"],
            subject=message["subject"],
            body=message["body"],
        )
    )


@hookimpl
def register_jobs() -> list[JobDefinition]:
    return [
        JobDefinition(
            MAIL_JOB,
            send,
            max_attempts=8,
            backoff_s=10.0,
            backoff_max_s=1800.0,
            transactional=False,
        )
    ]
