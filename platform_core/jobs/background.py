"""The inline runner's background thread: sweep and run scheduled jobs in the web process.

When no broker is configured, jobs run right after their commit in the thread that
committed; what fails is retried later, and scheduled jobs have no beat to start them. This
daemon thread does both every ``jobs_sweep_interval_s``: :meth:`Jobs.sweep` (due retries,
jobs whose runner died) and :meth:`Jobs.enqueue_due_schedules`. Every web process runs one;
the outbox's row locks and idempotency keys keep them from running a job twice.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platform_core.jobs.service import Jobs

log = logging.getLogger(__name__)

ERROR_LOG_INTERVAL_S = 60.0
"""A failure that repeats (database away) is logged at most this often."""
STOP_WAIT_S = 30.0
"""How long :meth:`BackgroundSweeper.stop` waits for a job the thread is running."""


class BackgroundSweeper:
    """A daemon thread calling ``jobs.sweep()`` and the schedules until stopped."""

    def __init__(self, jobs: Jobs, interval_s: float) -> None:
        self.jobs = jobs
        self.interval_s = max(float(interval_s), 0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fireside-jobs", daemon=True)
        self._last_error_logged = 0.0

    def start(self) -> None:
        """Start the thread; scheduled jobs start at their next period."""
        self.jobs.skip_current_periods()
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it (a running job finishes first)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(STOP_WAIT_S)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.jobs.sweep()
                if not self._stop.is_set():
                    self.jobs.enqueue_due_schedules()
            except Exception:
                now = time.monotonic()
                if now - self._last_error_logged >= ERROR_LOG_INTERVAL_S:
                    self._last_error_logged = now
                    log.exception("the jobs sweeper failed; it tries again")
