"""Rate limits on what strangers can make Fireside do: guess passwords, and send mail.

The per-account lockout (:mod:`platform_core.identity.authentication`) stops guessing one
account's password; it does not stop one address trying a few passwords on many accounts,
or filling someone's inbox with reset links. These limits do, per caller address and per
email address:

* failed logins from one address (``login_ip_max_failures`` per ``login_ip_window_s``):
  past the limit the address gets 429 before any password is checked;
* sign-up, confirmation-link and reset-link requests from one address
  (``mail_ip_max_requests`` per ``mail_window_s``): 429;
* mails a stranger can trigger by typing an email address (a confirmation link, a reset
  link, the "already registered" notice), per address (``mail_address_max`` per
  ``mail_window_s``): further ones are not sent, and the page answers exactly as if they
  were (it must not tell). Security notices (a lockout, a changed password) always go.

Counts live in the database (``identity_throttle``), so every process and node shares them.
Each limit is a sliding window estimated from two fixed windows (the current one, plus the
previous one weighted by how much of it still overlaps), which smooths the burst a plain
fixed window allows at its edge, at the cost of two small rows per caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from platform_core.config import Settings
from platform_core.db.engine import write_transaction
from platform_core.identity.schema import ThrottleRow

_T = ThrottleRow.__table__


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` hits of ``action`` per caller in any ``window_s`` seconds."""

    action: str
    limit: int
    window_s: int


class Throttle:
    """Counts hits per rule and caller, and says how long a caller over a limit must wait."""

    def __init__(self, db: Engine, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def wait(self, rule: Rule, who: str) -> int | None:
        """Seconds ``who`` must wait before ``rule`` allows one more hit; None when it
        allows one now. Counts nothing."""
        with self.db.connect() as conn:
            return self._wait(conn, rule, who, self.clock())

    def hit(self, rule: Rule, who: str) -> None:
        """Count one hit of ``who`` (a failed login, say), whatever the limit."""
        with write_transaction(self.db) as conn:
            self._count(conn, rule, who, self.clock())

    def take(self, rule: Rule, who: str) -> int | None:
        """Count one hit if ``rule`` allows it and return None; otherwise count nothing and
        return the seconds to wait. Atomic: concurrent callers never both take the last
        hit."""
        now = self.clock()
        try:
            with write_transaction(self.db) as conn:
                # Counting first locks the row (PostgreSQL) or the database (SQLite), so
                # the check below sees every concurrent hit; a refusal rolls the count back.
                self._count(conn, rule, who, now)
                wait = self._wait(conn, rule, who, now, counted=1)
                if wait is not None:
                    raise _Refused(wait)
        except _Refused as refused:
            return refused.wait
        return None

    def _wait(
        self, conn: Connection, rule: Rule, who: str, now: float, *, counted: int = 0
    ) -> int | None:
        window, elapsed = divmod(now, rule.window_s)
        current = int(window)
        query = sa.select(_T.c.window, _T.c.hits).where(
            _T.c.bucket == _bucket(rule, who), _T.c.window.in_((current - 1, current))
        )
        hits = {row.window: row.hits for row in conn.execute(query)}
        return wait_seconds(
            rule,
            previous=hits.get(current - 1, 0),
            current=hits.get(current, 0) - counted,
            elapsed=elapsed,
        )

    def _count(self, conn: Connection, rule: Rule, who: str, now: float) -> None:
        window = int(now // rule.window_s)
        values = {
            "bucket": _bucket(rule, who),
            "window": window,
            "hits": 1,
            "expires": (window + 2) * rule.window_s,
        }
        stmt: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_T)
        conn.execute(
            stmt.values(values).on_conflict_do_update(
                index_elements=[_T.c.bucket, _T.c.window], set_={"hits": _T.c.hits + 1}
            )
        )
        conn.execute(sa.delete(_T).where(_T.c.expires < int(now)))


class _Refused(Exception):
    def __init__(self, wait: int) -> None:
        self.wait = wait


def _bucket(rule: Rule, who: str) -> str:
    return f"{rule.action}:{who}"[:300]


def wait_seconds(rule: Rule, *, previous: int, current: int, elapsed: float) -> int | None:
    """How long until the sliding-window estimate allows one more hit (None: now).

    The estimate ``previous * (1 - elapsed / window) + current`` counts the previous
    window's hits as if spread evenly over it."""
    w = rule.window_s
    estimate = previous * (1 - elapsed / w) + current
    if estimate + 1 <= rule.limit:
        return None
    if current + 1 > rule.limit:
        # Not before the next window, and then until enough of this one has slid past.
        later = max(0.0, 1 - (rule.limit - 1) / current) if current else 0.0
        return max(1, math.ceil(w - elapsed + w * later))
    # This window has room; wait until enough of the previous one has slid past.
    needed = 1 - (rule.limit - 1 - current) / previous
    return max(1, math.ceil(w * needed - elapsed))


def login_failures_rule(settings: Settings) -> Rule:
    """Failed logins per caller address."""
    return Rule("login-failure", settings.login_ip_max_failures, settings.login_ip_window_s)


def mail_requests_rule(settings: Settings) -> Rule:
    """Sign-up, confirmation-link and reset-link requests per caller address."""
    return Rule("mail-request", settings.mail_ip_max_requests, settings.mail_window_s)


def mail_address_rule(settings: Settings) -> Rule:
    """Mails a stranger can trigger by typing an address, per email address."""
    return Rule("mail-to", settings.mail_address_max, settings.mail_window_s)
