"""Where inline jobs run: one thread per process that runs, in order, the jobs each commit
hands it, so the request that enqueued them answers right after its commit.

Running them in the committing thread instead would put every job's work (indexing a
document, sending a mail) on the request: a create that triggers indexing took 8.9 ms instead
of 3.8 ms in-process on PostgreSQL, and a password-reset page that mails answered slower for an
address with an account than for one without. ``jobs_inline_sync = true`` keeps jobs in the
committing thread (tests that read a job's effect right after a request use it).

When jobs queue up (the thread is busier than the requests that feed it), it takes up to
``MAX_BATCH`` of them at once and hands them over together, so that they can share one
transaction (:func:`platform_core.jobs.running.run_batch`).

Nothing is lost if the process dies first: the jobs are in the outbox, and another process's
sweeper takes them over after ``jobs_lease_s``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

MAX_BATCH = 20
"""Jobs handed over at once at most: a batch holds its transaction (on SQLite, the database's
write lock) for all of its jobs, and a failing job makes the whole batch run again one by one."""


class InlineRunner:
    """A single daemon thread running job ids through ``run`` in arrival order, in batches
    of what has queued up."""

    def __init__(self, run: Callable[[list[int]], None]) -> None:
        self._run = run
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, ids: Sequence[int]) -> None:
        """Queue jobs to run as soon as the thread gets to them."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="fireside-inline-jobs", daemon=True
                )
                self._thread.start()
        for job_id in ids:
            self._queue.put(job_id)

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted job has run; False when ``timeout`` passed first."""
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Run what is queued, then end the thread."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None and len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            ids = [job_id for job_id in batch if job_id is not None]
            try:
                if ids:
                    self._run(ids)
            except Exception:  # never let one job end the thread
                log.exception("inline jobs %s failed to run; the sweeper will retry them", ids)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if batch[-1] is None:
                return
