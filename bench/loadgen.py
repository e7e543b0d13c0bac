"""A cheap load generator: client threads, each with one keep-alive HTTP/1.1 connection.

Two interchangeable clients: :class:`RawClient` speaks HTTP/1.1 over a plain socket with
pre-built request heads (a few microseconds of Python per request), :class:`StdlibClient`
uses ``http.client``. Both reconnect when the server closes the connection (gunicorn's sync
worker does after every response; its gthread worker keeps connections alive).
:func:`run_clients` runs one function per thread and reports wall time and this process's
own CPU time, so a benchmark can say how much of the machine the load generator took.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

_CRLF2 = b"\r\n\r\n"


class Response:
    """Status, lower-cased headers and body of one response."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class Client(Protocol):
    """What the benchmarks need of an HTTP client."""

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Response: ...

    def close(self) -> None: ...


class RawClient:
    """HTTP/1.1 over one socket to 127.0.0.1:port, reopened when the server closes it.

    ``extra_headers``: complete header lines (each ending in CRLF, e.g.
    ``b"Authorization: Bearer ...\\r\\n"``) sent with every request; an attribute, so a
    benchmark may change it between requests. Empty (the default): none.
    """

    def __init__(self, port: int, timeout: float = 60.0, extra_headers: bytes = b"") -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.connects = 0
        self.extra_headers = extra_headers
        self._host = f"Host: 127.0.0.1:{port}\r\n".encode()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1
        self.sock = sock
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Response:
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host]
        head.append(b"Accept: application/fhir+json\r\n")
        if self.extra_headers:
            head.append(self.extra_headers)
        if body or method in {"POST", "PUT", "PATCH"}:
            if content_type:
                head.append(f"Content-Type: {content_type}\r\n".encode())
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        data = b"".join(head) + body
        reused = self.sock is not None
        try:
            return self._exchange(data)
        except (ConnectionResetError, BrokenPipeError, _EmptyResponse):
            self.close()
            if not reused:
                raise
            # A kept-alive connection the server had already closed: nothing was processed.
            return self._exchange(data)

    def _exchange(self, data: bytes) -> Response:
        sock = self.sock or self._connect()
        sock.sendall(data)
        buf = bytearray()
        while True:
            end = buf.find(_CRLF2)
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                if not buf:
                    raise _EmptyResponse
                raise ConnectionError("connection closed inside the response head")
            buf += chunk
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = buf[end + 4 :]
        if "content-length" in headers:
            size = int(headers["content-length"])
            while len(rest) < size:
                chunk = sock.recv(max(65536, size - len(rest)))
                if not chunk:
                    raise ConnectionError("connection closed inside the response body")
                rest += chunk
            body = bytes(rest[:size])
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked(sock, rest)
        else:  # body delimited by the end of the connection
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            body = bytes(rest)
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers, body)

    @staticmethod
    def _read_chunked(sock: socket.socket, rest: bytearray) -> bytes:
        body = bytearray()
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            line, _, tail = bytes(rest).partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            rest = bytearray(tail)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                return bytes(body)


class _EmptyResponse(ConnectionError):
    """The server closed the connection before sending anything."""


class StdlibClient:
    """``http.client.HTTPConnection`` (re-opens itself after ``Connection: close``)."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def request(
        self, method: str, path: str, body: bytes = b"", content_type: str | None = None
    ) -> Response:
        headers = {"Accept": "application/fhir+json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body or None, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            self.conn.close()
            self.conn.request(method, path, body=body or None, headers=headers)
            resp = self.conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)


CLIENTS: dict[str, Callable[[int], Client]] = {"raw": RawClient, "stdlib": StdlibClient}


@dataclass
class ThreadResult:
    """What one client thread measured."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    items: int = 0
    extra: list[Any] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text[:2000])


@dataclass
class RunResult:
    """All threads of one phase together."""

    threads: list[ThreadResult]
    wall_s: float
    client_cpu_s: float

    @property
    def latencies(self) -> list[float]:
        return [lat for t in self.threads for lat in t.latencies]

    @property
    def ok(self) -> int:
        return sum(t.ok for t in self.threads)

    @property
    def errors(self) -> int:
        return sum(t.errors for t in self.threads)

    @property
    def items(self) -> int:
        return sum(t.items for t in self.threads)

    @property
    def error_samples(self) -> list[str]:
        return [s for t in self.threads for s in t.error_samples][:5]


def run_clients(
    count: int,
    make_client: Callable[[], Client],
    body: Callable[[int, Client, ThreadResult], None],
) -> RunResult:
    """Run ``body(index, client, result)`` in ``count`` threads at once; time the whole."""
    results = [ThreadResult() for _ in range(count)]
    clients = [make_client() for _ in range(count)]
    barrier = threading.Barrier(count + 1)

    def target(i: int) -> None:
        barrier.wait()
        try:
            body(i, clients[i], results[i])
        except Exception as exc:  # a broken client thread is an error, not a hang
            results[i].error(f"client thread failed: {exc!r}")
        finally:
            clients[i].close()

    threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return RunResult(results, wall, cpu)


def build_request(
    port: int, method: str, path: str, body: bytes = b"", content_type: str | None = None
) -> bytes:
    """The bytes of one HTTP/1.1 request to 127.0.0.1:port (keep-alive)."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/fhir+json\r\n"
    )
    if body or method in {"POST", "PUT", "PATCH"}:
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body
