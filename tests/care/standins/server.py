"""The machinery every provider stand-in shares: a real HTTP server on 127.0.0.1 (werkzeug, in
a thread, like ``tests/conftest.py``'s ``live_server``), a record of every request received,
and failures and stalls a test can queue for the next requests.

A subclass names its endpoints (:meth:`StandIn.endpoint`), answers them the way its provider
does (:meth:`StandIn.handle`), and shapes the error bodies of queued failures
(:meth:`StandIn.failure`).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


@dataclass(frozen=True)
class Received:
    """One request as the stand-in saw it."""

    method: str
    path: str
    endpoint: str | None
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    """Form fields (single values) of a form-encoded body."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Queued:
    endpoint: str
    remaining: int
    status: int = 0
    body: Any = None
    stall_s: float = 0.0


class _QuietHandler(WSGIRequestHandler):
    """No access log lines in the test output."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class StandIn:
    """A provider API served over real HTTP on a loopback port."""

    default_endpoint = ""
    """The endpoint ``fail_next`` and ``stall_next`` aim at unless told otherwise."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._failures: deque[_Queued] = deque()
        self._stalls: deque[_Queued] = deque()
        self._release = threading.Event()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        # A short poll interval: ``shutdown()`` waits up to one interval.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # stalled requests end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the stand-in first"
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- what a test can ask -------------------------------------------------------------

    def fail_next(
        self, count: int, status: int, *, endpoint: str | None = None, body: Any = None
    ) -> None:
        """Answer the next ``count`` requests to ``endpoint`` with ``status`` and the
        provider's error body for it (or ``body``: a dict sent as JSON, or bytes)."""
        with self._lock:
            self._failures.append(
                _Queued(endpoint or self.default_endpoint, count, status=status, body=body)
            )

    def stall_next(
        self, count: int = 1, *, seconds: float = 10.0, endpoint: str | None = None
    ) -> None:
        """Hold the next ``count`` requests to ``endpoint`` for up to ``seconds`` (or until the
        stand-in stops) before answering them, to exercise client timeouts."""
        with self._lock:
            self._stalls.append(_Queued(endpoint or self.default_endpoint, count, stall_s=seconds))

    def requests_to(self, endpoint: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.endpoint == endpoint]

    # --- for subclasses ------------------------------------------------------------------

    def endpoint(self, request: Request) -> str | None:
        """The name of the endpoint ``request`` is for; None for an unknown URL."""
        raise NotImplementedError

    def handle(self, endpoint: str | None, request: Request) -> Response:
        """The provider's answer."""
        raise NotImplementedError

    def failure(self, endpoint: str, status: int) -> Response:
        """The provider's error answer with ``status`` (for ``fail_next``)."""
        raise NotImplementedError

    # --- the WSGI app --------------------------------------------------------------------

    def _take(self, queue: deque[_Queued], endpoint: str | None) -> _Queued | None:
        with self._lock:
            for item in queue:
                if item.endpoint == endpoint and item.remaining > 0:
                    item.remaining -= 1
                    if item.remaining == 0:
                        queue.remove(item)
                    return item
        return None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data(cache=True)
        form = {}
        if request.mimetype == "application/x-www-form-urlencoded":
            form = {key: request.form[key] for key in request.form}
        endpoint = self.endpoint(request)
        with self._lock:
            self.received.append(
                Received(
                    method=request.method,
                    path=request.path,
                    endpoint=endpoint,
                    headers=dict(request.headers.items()),
                    body=body,
                    form=form,
                )
            )
        stall = self._take(self._stalls, endpoint)
        if stall is not None:
            self._release.wait(stall.stall_s)
        failure = self._take(self._failures, endpoint)
        if failure is not None:
            response = self._failure_response(failure, endpoint or "")
        else:
            response = self.handle(endpoint, request)
        return response(environ, start_response)

    def _failure_response(self, failure: _Queued, endpoint: str) -> Response:
        if failure.body is None:
            return self.failure(endpoint, failure.status)
        if isinstance(failure.body, bytes):
            return Response(failure.body, status=failure.status, content_type="text/plain")
        return json_response(failure.body, failure.status)


def json_response(body: Any, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body),
        status=status,
        content_type="application/json; charset=utf-8",
        headers=headers,
    )


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on (a connection there is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
