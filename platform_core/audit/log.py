"""The audit log: records are buffered in memory and written as AuditEvents in batches.

DESIGN §4: audit of reads must not put a synchronous database write on the read path. A
background thread writes whatever has gathered every ``interval`` seconds (sooner when a batch
fills) in one transaction; a batch that fails (the database is away) goes back to the front
of the buffer and is retried, and :meth:`AuditLog.close` flushes what is left at shutdown.
What a process holds when it is killed outright is lost: the price of not writing per read.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque

from platform_core.audit.events import audit_event
from platform_core.audit.records import AuditRecord
from platform_core.fhir.context import RequestContext
from platform_core.fhir.repository import Repository, new_id

log = logging.getLogger(__name__)
AUDIT_CTX = RequestContext.system("audit")


class AuditLog:
    """Buffers :class:`AuditRecord` objects and writes them as AuditEvent resources."""

    def __init__(
        self,
        repository: Repository,
        *,
        interval: float = 0.5,
        batch_size: int = 500,
        background: bool = True,
    ) -> None:
        """``background=False``: no writer thread; records wait for :meth:`flush` (or
        :meth:`close`), for callers that decide themselves when to write."""
        self.repository = repository
        self.background = background
        self.interval = interval
        self.batch_size = batch_size
        self._buffer: deque[AuditRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        atexit.register(self.close)

    def record(self, record: AuditRecord) -> None:
        """Queue ``record``; it is written within ``interval`` seconds."""
        self._buffer.append(record)
        if not self.background:
            return
        if self._thread is None:
            self._start()
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    def pending(self) -> int:
        """How many records wait to be written."""
        return len(self._buffer)

    def flush(self) -> int:
        """Write everything buffered, including what arrives meanwhile; returns how many
        records were written."""
        return self._drain(None)

    def _drain(self, limit: int | None) -> int:
        """Write up to ``limit`` records (all when ``None``) in batches of ``batch_size``.

        The writer thread passes what the buffer held when its round began: records that
        arrive while a batch is being written wait for the next round. Draining to empty
        instead would keep a busy server writing batches of the few records that came in
        during the previous write, at the full per-batch cost each time."""
        written = 0
        with self._flush_lock:
            while self._buffer and (limit is None or written < limit):
                size = min(self.batch_size, len(self._buffer))
                if limit is not None:
                    size = min(size, limit - written)
                batch = [self._buffer.popleft() for _ in range(size)]
                try:
                    self._write(batch)
                except Exception:
                    self._buffer.extendleft(reversed(batch))
                    raise
                written += len(batch)
        return written

    def close(self) -> None:
        """Stop the writer thread and flush the rest (called at shutdown)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        try:
            self.flush()
        except Exception:
            log.exception("audit records could not be written at shutdown: %d", self.pending())

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._drain(len(self._buffer))
            except Exception:
                log.warning("audit batch not written yet; will retry (%d pending)", self.pending())
                self._stop.wait(self.interval * 4)

    def _write(self, batch: list[AuditRecord]) -> None:
        items = [(audit_event(r), new_id()) for r in batch]
        with self.repository.transaction() as conn:
            self.repository.create_many(AUDIT_CTX, conn, items, validate=False)
