"""Publishing job ids to the Celery broker, failing fast.

A web process publishes right after the commit that wrote the jobs, in the request's
thread, so a broker that is down must cost a few milliseconds, never a hang: connections
time out after :data:`~platform_core.jobs.celery_app.CONNECT_TIMEOUT_S`, nothing is retried,
and after a failure the after-commit path skips the broker for :data:`COOLDOWN_S` (the jobs
stay ``pending`` and the sweeper hands them over once the broker is back). Messages are
published in batches (one Redis pipeline per batch).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from platform_core.config import Settings
from platform_core.jobs.celery_app import CONNECT_TIMEOUT_S, RUN_TASK, make_celery

log = logging.getLogger(__name__)

COOLDOWN_S = 5.0
"""After a failed publish, freshly committed jobs are left to the sweeper this long."""
BATCH = 500
"""Messages per broker round trip (Redis pipeline)."""


class BrokerUnavailable(Exception):
    """Publishing failed after ``published`` of the ids were handed over."""

    def __init__(self, published: int, cause: BaseException) -> None:
        super().__init__(f"the jobs broker is unavailable: {type(cause).__name__}: {cause}")
        self.published = published


class Publisher:
    """Hands job ids to the broker as ``fireside.run_job`` messages."""

    def __init__(self, settings: Settings) -> None:
        self.queue = settings.jobs_queue
        self._app = make_celery(settings, producer=True)
        self._down_until = 0.0
        self._lock = threading.Lock()

    def available(self) -> bool:
        """False for a few seconds after a failed publish."""
        return time.monotonic() >= self._down_until

    def publish(self, ids: Sequence[int]) -> None:
        """Publish one message per id; :class:`BrokerUnavailable` when the broker fails."""
        published = 0
        try:
            with self._app.producer_or_acquire() as producer:
                for start in range(0, len(ids), BATCH):
                    chunk = ids[start : start + BATCH]
                    with _batch(producer, len(chunk)):
                        for job_id in chunk:
                            self._app.send_task(
                                RUN_TASK,
                                args=(job_id,),
                                queue=self.queue,
                                routing_key=self.queue,
                                producer=producer,
                                retry=False,
                                argsrepr=f"({job_id},)",
                                kwargsrepr="{}",
                            )
                    published += len(chunk)
        except Exception as exc:
            self._failed()
            raise BrokerUnavailable(published, exc) from exc
        self._down_until = 0.0

    def check(self) -> str | None:
        """None when the broker accepts a connection, else a short reason."""
        try:
            with self._app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=0, timeout=2 * CONNECT_TIMEOUT_S)
        except Exception as exc:
            return f"broker unreachable ({type(exc).__name__})"
        return None

    def close(self) -> None:
        """Close the pooled broker connections."""
        with contextlib.suppress(Exception):
            self._app.close()

    def _failed(self) -> None:
        """Skip direct publishing for a while, and drop connections that may be broken."""
        with self._lock:
            self._down_until = time.monotonic() + COOLDOWN_S
            self.close()


def _batch(producer: Any, size: int) -> Any:
    """The producer's pipelined batch where kombu offers one (Redis), else nothing."""
    batch = getattr(producer, "batch", None)
    return batch(max_size=size) if batch is not None else contextlib.nullcontext()
